/**
 * When to try a failed delivery again. Two shapes: an explicit list of delays (the standard schedule)
 * or exponential backoff (the seed design). Both take a maximum attempt count, an optional maximum age
 * and a jitter fraction. Pure: no clock or randomness of its own, so tests pin both.
 */
export type RetrySchedule = { kind: 'delays'; delaysMs: number[] } | { kind: 'exponential'; baseMs: number; factor: number; maxMs: number };

export interface RetryPolicy {
  schedule: RetrySchedule;
  /** Total attempts, the first included; after the last failure the delivery is dead-lettered. */
  maxAttempts: number;
  /** No retry is scheduled later than this long after the delivery was created; null: no limit. */
  maxAgeMs: number | null;
  /** Fraction of the delay to randomise, both ways: 0.2 gives +-20%. */
  jitter: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h later: ten attempts over about 3.15 days. */
export const STANDARD_DELAYS_MS = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR];

export const RETRY_PRESETS = {
  /** The default: a schedule spanning days, so a receiver that is down over a weekend still gets its events. */
  standard: { schedule: { kind: 'delays', delaysMs: STANDARD_DELAYS_MS }, maxAttempts: 10, maxAgeMs: 5 * DAY, jitter: 0.2 },
  /** The seed design's policy: 5 attempts, exponential from 2 s (2 s, 4 s, 8 s, 16 s). */
  seed: { schedule: { kind: 'exponential', baseMs: 2 * SECOND, factor: 2, maxMs: DAY }, maxAttempts: 5, maxAgeMs: null, jitter: 0.2 },
} as const satisfies Record<string, RetryPolicy>;

export type RetryPresetName = keyof typeof RETRY_PRESETS;

export function retryPreset(name: RetryPresetName): RetryPolicy {
  const preset = RETRY_PRESETS[name];
  const schedule: RetrySchedule =
    preset.schedule.kind === 'delays' ? { kind: 'delays', delaysMs: [...preset.schedule.delaysMs] } : { ...preset.schedule };
  return { ...preset, schedule };
}

/** The nominal (un-jittered) delay before attempt `nextAttempt` (2 for the first retry). */
export function nominalDelayMs(schedule: RetrySchedule, nextAttempt: number): number {
  const index = Math.max(0, nextAttempt - 2);
  if (schedule.kind === 'delays') {
    if (schedule.delaysMs.length === 0) return 0;
    // Beyond the list, keep the last delay: maxAttempts may be larger than the list is long.
    return schedule.delaysMs[Math.min(index, schedule.delaysMs.length - 1)]!;
  }
  return Math.min(schedule.maxMs, schedule.baseMs * Math.pow(schedule.factor, index));
}

/**
 * Delay before attempt `nextAttempt`, jittered by +-`jitter` so retries of many deliveries that failed
 * together spread out. `random` returns a number in [0, 1), injected so tests can pin it.
 */
export function retryDelayMs(policy: RetryPolicy, nextAttempt: number, random: () => number = Math.random): number {
  const nominal = nominalDelayMs(policy.schedule, nextAttempt);
  const spread = nominal * policy.jitter;
  const jittered = Math.max(0, Math.round(nominal - spread + random() * 2 * spread));
  // For exponential backoff the cap is the longest wait, jitter included.
  return policy.schedule.kind === 'exponential' ? Math.min(policy.schedule.maxMs, jittered) : jittered;
}

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'dead'; reason: string };

export interface FailureContext {
  /** Attempts made so far, the failed one included. */
  attemptsMade: number;
  retryable: boolean;
  /** How long ago the delivery was created, at the time of deciding. */
  ageMs: number;
  /** A wait the receiver asked for (Retry-After), already capped; the retry is never sooner than the schedule. */
  retryAfterMs?: number | null;
  random?: () => number;
}

export function decideAfterFailure(policy: RetryPolicy, context: FailureContext): RetryDecision {
  if (!context.retryable) return { kind: 'dead', reason: 'the failure is permanent' };
  if (context.attemptsMade >= policy.maxAttempts) {
    return { kind: 'dead', reason: `all ${policy.maxAttempts} attempts failed` };
  }
  const scheduled = retryDelayMs(policy, context.attemptsMade + 1, context.random);
  const delayMs = Math.max(scheduled, context.retryAfterMs ?? 0);
  if (policy.maxAgeMs !== null && context.ageMs + delayMs > policy.maxAgeMs) {
    return { kind: 'dead', reason: `the next attempt would come after the maximum age of ${policy.maxAgeMs} ms` };
  }
  return { kind: 'retry', delayMs };
}

/** Checks a policy given by a user or the environment; returns the problem, or null when it is valid. */
export function retryPolicyProblem(policy: RetryPolicy): string | null {
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1 || policy.maxAttempts > 100) {
    return 'maxAttempts must be an integer from 1 to 100';
  }
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) return 'jitter must be between 0 and 1';
  if (policy.maxAgeMs !== null && !(Number.isInteger(policy.maxAgeMs) && policy.maxAgeMs > 0)) {
    return 'maxAgeMs must be a positive integer (milliseconds)';
  }
  const limit = 30 * DAY;
  if (policy.schedule.kind === 'delays') {
    const delays = policy.schedule.delaysMs;
    if (delays.length === 0 || delays.length > 100) return 'the list of delays must have 1 to 100 entries';
    if (delays.some((delay) => !Number.isInteger(delay) || delay < 0 || delay > limit)) {
      return 'each delay must be an integer number of milliseconds from 0 to 30 days';
    }
  } else {
    const { baseMs, factor, maxMs } = policy.schedule;
    if (!Number.isInteger(baseMs) || baseMs < 0 || baseMs > limit) return 'baseMs must be from 0 to 30 days, in milliseconds';
    if (!(factor >= 1 && factor <= 100)) return 'factor must be from 1 to 100';
    if (!Number.isInteger(maxMs) || maxMs < baseMs || maxMs > limit) return 'maxMs must be from baseMs to 30 days, in milliseconds';
  }
  return null;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY };

/** Parses "0,5s,5m,30m,2h" (a bare number is milliseconds); returns null for anything else. */
export function parseDurationList(text: string): number[] | null {
  const parts = text.split(',').map((part) => part.trim());
  const values: number[] = [];
  for (const part of parts) {
    const match = DURATION.exec(part);
    if (!match) return null;
    values.push(Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!));
  }
  return values;
}
