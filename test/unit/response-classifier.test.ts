import { describe, expect, it } from 'vitest';
import { type AttemptOutcome, AttemptErrorKind } from '../../src/delivery/attempt-outcome';
import { disableReason } from '../../src/delivery/endpoint-health-policy';
import { classifyAttempt, parseRetryAfterMs } from '../../src/delivery/response-classifier';

const NOW = new Date('2026-11-29T12:00:00.000Z');
const OPTIONS = { now: NOW, retryAfterMaxMs: 3_600_000 };

function response(statusCode: number, retryAfter: string | null = null): AttemptOutcome {
  const ok = statusCode >= 200 && statusCode < 300;
  return {
    ok,
    statusCode,
    responseBody: '',
    responseBodyTruncated: false,
    durationMs: 5,
    errorKind: ok ? null : AttemptErrorKind.HTTP_STATUS,
    errorMessage: ok ? null : `HTTP ${statusCode}`,
    retryAfter,
  };
}

function networkFailure(kind: AttemptErrorKind): AttemptOutcome {
  return {
    ok: false,
    statusCode: null,
    responseBody: null,
    responseBodyTruncated: false,
    durationMs: 5,
    errorKind: kind,
    errorMessage: kind,
    retryAfter: null,
  };
}

describe('classifyAttempt (Standard Webhooks status semantics)', () => {
  it('counts every 2xx as delivered', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(classifyAttempt(response(status), OPTIONS)).toEqual({ kind: 'succeeded' });
  });

  it('treats 410 Gone as the endpoint asking to be disabled', () => {
    const verdict = classifyAttempt(response(410), OPTIONS);
    expect(verdict.kind).toBe('endpoint-gone');
    if (verdict.kind === 'endpoint-gone') expect(verdict.reason).toMatch(/410 Gone/);
  });

  it('retries redirects on the schedule without throttling (they are never followed)', () => {
    for (const status of [301, 302, 307, 308]) {
      expect(classifyAttempt(response(status), OPTIONS)).toEqual({ kind: 'failed', retryable: true, throttled: false, retryAfterMs: null });
    }
  });

  it('throttles on 429, 502, 503 and 504 only', () => {
    for (const status of [429, 502, 503, 504]) expect(classifyAttempt(response(status), OPTIONS)).toMatchObject({ throttled: true });
    for (const status of [400, 401, 404, 500, 501]) {
      expect(classifyAttempt(response(status), OPTIONS)).toMatchObject({ kind: 'failed', retryable: true, throttled: false });
    }
  });

  it('honours Retry-After in seconds and as an HTTP date, capped at the configured maximum', () => {
    expect(classifyAttempt(response(429, '120'), OPTIONS)).toMatchObject({ retryAfterMs: 120_000 });
    expect(classifyAttempt(response(503, 'Sun, 29 Nov 2026 12:10:00 GMT'), OPTIONS)).toMatchObject({ retryAfterMs: 600_000 });
    expect(classifyAttempt(response(429, '86400'), OPTIONS)).toMatchObject({ retryAfterMs: 3_600_000 });
    expect(classifyAttempt(response(429, 'soon'), OPTIONS)).toMatchObject({ retryAfterMs: null });
  });

  it('classifies every network failure kind as retryable, and a blocked destination as permanent', () => {
    for (const kind of [
      AttemptErrorKind.TIMEOUT,
      AttemptErrorKind.DNS,
      AttemptErrorKind.CONNECT,
      AttemptErrorKind.RESET,
      AttemptErrorKind.TLS,
    ]) {
      expect(classifyAttempt(networkFailure(kind), OPTIONS)).toEqual({
        kind: 'failed',
        retryable: true,
        throttled: false,
        retryAfterMs: null,
      });
    }
    expect(classifyAttempt(networkFailure(AttemptErrorKind.BLOCKED), OPTIONS)).toMatchObject({ kind: 'failed', retryable: false });
  });
});

describe('parseRetryAfterMs', () => {
  it('reads delay-seconds and HTTP dates (IMF-fixdate), 0 for a past date, null for junk', () => {
    expect(parseRetryAfterMs('0', NOW)).toBe(0);
    expect(parseRetryAfterMs(' 30 ', NOW)).toBe(30_000);
    expect(parseRetryAfterMs('Sun, 29 Nov 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfterMs('Sun, 29 Nov 2026 11:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfterMs(null, NOW)).toBeNull();
    expect(parseRetryAfterMs('-5', NOW)).toBeNull();
    expect(parseRetryAfterMs('2026', NOW)).toBe(2_026_000);
    expect(parseRetryAfterMs('tomorrow', NOW)).toBeNull();
    expect(parseRetryAfterMs('1.5', NOW)).toBeNull();
  });
});

describe('endpoint health rules', () => {
  const rules = { disableAfterDeadLetters: 10, disableAfterFailingMs: 5 * 86_400_000 };
  const healthy = { gone: false, consecutiveDeadLetters: 0, failingSince: null };

  it('disables at once on 410', () => {
    expect(disableReason(rules, { ...healthy, gone: true }, NOW)).toMatch(/410/);
  });

  it('disables after N dead letters in a row, not before', () => {
    expect(disableReason(rules, { ...healthy, consecutiveDeadLetters: 9 }, NOW)).toBeNull();
    expect(disableReason(rules, { ...healthy, consecutiveDeadLetters: 10 }, NOW)).toMatch(/10 deliveries in a row/);
    expect(disableReason({ ...rules, disableAfterDeadLetters: 0 }, { ...healthy, consecutiveDeadLetters: 1000 }, NOW)).toBeNull();
  });

  it('disables an endpoint failing for 5 days (injected clock), not one failing for less', () => {
    const since = new Date(NOW.getTime() - 5 * 86_400_000);
    expect(disableReason(rules, { ...healthy, failingSince: new Date(since.getTime() + 1) }, NOW)).toBeNull();
    expect(disableReason(rules, { ...healthy, failingSince: since }, NOW)).toMatch(/5 days/);
    expect(disableReason({ ...rules, disableAfterFailingMs: 0 }, { ...healthy, failingSince: new Date(0) }, NOW)).toBeNull();
  });
});
