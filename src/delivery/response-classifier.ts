import { type AttemptOutcome, AttemptErrorKind } from './attempt-outcome';

/**
 * What one attempt's outcome means for the delivery and its endpoint (Standard Webhooks semantics):
 * 2xx succeeds; 410 Gone disables the endpoint at once; 429, 502, 503 and 504 throttle (the receiver is
 * overloaded: honour its Retry-After and slow the whole endpoint down); every other status, redirects
 * included, and every network failure is retried on the schedule. A blocked destination never will work.
 */
export type AttemptVerdict =
  | { kind: 'succeeded' }
  | { kind: 'endpoint-gone'; reason: string }
  | { kind: 'failed'; retryable: boolean; throttled: boolean; retryAfterMs: number | null };

export const THROTTLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export interface ClassifyOptions {
  now: Date;
  /** The longest Retry-After honoured; a longer one is cut to this. */
  retryAfterMaxMs: number;
}

export function classifyAttempt(outcome: AttemptOutcome, options: ClassifyOptions): AttemptVerdict {
  if (outcome.ok) return { kind: 'succeeded' };
  if (outcome.statusCode === 410) {
    return { kind: 'endpoint-gone', reason: 'The endpoint answered 410 Gone: it asked not to receive deliveries any more.' };
  }
  if (outcome.errorKind === AttemptErrorKind.BLOCKED) {
    return { kind: 'failed', retryable: false, throttled: false, retryAfterMs: null };
  }
  const throttled = outcome.statusCode !== null && THROTTLE_STATUSES.has(outcome.statusCode);
  const retryAfter = outcome.statusCode !== null ? parseRetryAfterMs(outcome.retryAfter ?? null, options.now) : null;
  return {
    kind: 'failed',
    retryable: true,
    throttled,
    retryAfterMs: retryAfter === null ? null : Math.min(retryAfter, options.retryAfterMaxMs),
  };
}

/**
 * Retry-After is either delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2026 07:28:00 GMT").
 * Returns the wait in milliseconds from `now` (0 for a date in the past), or null when absent or invalid.
 */
export function parseRetryAfterMs(value: string | null, now: Date): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  // Only the HTTP-date shapes: Date.parse alone would also accept "1" or "2026".
  if (!/^[A-Za-z]{3},? /.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now.getTime());
}
