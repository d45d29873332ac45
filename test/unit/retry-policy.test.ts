import { describe, expect, it } from 'vitest';
import {
  type RetryPolicy,
  STANDARD_DELAYS_MS,
  decideAfterFailure,
  parseDurationList,
  retryDelayMs,
  retryPolicyProblem,
  retryPreset,
} from '../../src/delivery/retry-policy';

// The seed preset (DELIVERY_RETRY_POLICY=seed): 5 attempts, exponential from 2 s.
const SEED: RetryPolicy = retryPreset('seed');
const STANDARD: RetryPolicy = retryPreset('standard');
const exponential = (policy: RetryPolicy, parts: { baseMs?: number; factor?: number; maxMs?: number }): RetryPolicy => {
  if (policy.schedule.kind !== 'exponential') throw new Error('not exponential');
  return { ...policy, schedule: { ...policy.schedule, ...parts } };
};
const failed = (
  attemptsMade: number,
  random?: () => number,
  extra: { retryable?: boolean; ageMs?: number; retryAfterMs?: number } = {},
) => ({
  attemptsMade,
  retryable: extra.retryable ?? true,
  ageMs: extra.ageMs ?? 0,
  retryAfterMs: extra.retryAfterMs ?? null,
  random,
});
const MIDDLE = () => 0.5;
const LOW = () => 0;
const HIGH = () => 0.999999;

describe('retryDelayMs', () => {
  it('gives the nominal 2 s, 4 s, 8 s, 16 s schedule with the seed defaults', () => {
    expect([2, 3, 4, 5].map((attempt) => retryDelayMs(SEED, attempt, MIDDLE))).toEqual([2000, 4000, 8000, 16000]);
  });

  it('treats attempt 1 or lower like the first retry (never a negative exponent)', () => {
    expect(retryDelayMs(SEED, 1, MIDDLE)).toBe(2000);
    expect(retryDelayMs(SEED, 0, MIDDLE)).toBe(2000);
  });

  it('spreads by -20% when random() is 0 and by +20% when it is just below 1', () => {
    expect([2, 3, 4, 5].map((attempt) => retryDelayMs(SEED, attempt, LOW))).toEqual([1600, 3200, 6400, 12800]);
    expect([2, 3, 4, 5].map((attempt) => retryDelayMs(SEED, attempt, HIGH))).toEqual([2400, 4800, 9600, 19200]);
  });

  it('always stays within the jitter bounds for Math.random', () => {
    for (let i = 0; i < 2000; i++) {
      const attempt = 2 + (i % 4);
      const nominal = 2000 * 2 ** (attempt - 2);
      const delay = retryDelayMs(SEED, attempt);
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(nominal * 0.8);
      expect(delay).toBeLessThanOrEqual(nominal * 1.2);
    }
  });

  it('actually varies the delay (jitter is applied)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(SEED, 3)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('has no spread when jitter is 0', () => {
    const policy = { ...SEED, jitter: 0 };
    expect(retryDelayMs(policy, 4, LOW)).toBe(8000);
    expect(retryDelayMs(policy, 4, HIGH)).toBe(8000);
  });

  it('caps the nominal delay at maxMs', () => {
    const policy = exponential(SEED, { maxMs: 10_000 });
    expect(retryDelayMs(policy, 4, MIDDLE)).toBe(8000);
    expect(retryDelayMs(policy, 5, MIDDLE)).toBe(10_000);
    expect(retryDelayMs(policy, 50, MIDDLE)).toBe(10_000);
    expect(retryDelayMs(policy, 5, LOW)).toBe(8000);
  });

  it('never exceeds maxMs, even with upward jitter', () => {
    const policy = exponential(SEED, { maxMs: 10_000 });
    expect(retryDelayMs(policy, 5, HIGH)).toBeLessThanOrEqual(10_000);
    expect(retryDelayMs(policy, 50, HIGH)).toBeLessThanOrEqual(10_000);
    expect(retryDelayMs({ ...policy, jitter: 1 }, 50, HIGH)).toBeLessThanOrEqual(10_000);
    for (let i = 0; i < 500; i++) expect(retryDelayMs(policy, 6)).toBeLessThanOrEqual(10_000);
  });

  it('stays finite for huge attempt numbers', () => {
    const delay = retryDelayMs(SEED, 10_000, MIDDLE);
    expect(delay).toBe(86_400_000);
  });

  it('supports other factors and bases', () => {
    const policy = exponential({ ...SEED, maxAttempts: 10, jitter: 0 }, { baseMs: 500, factor: 3, maxMs: 1_000_000 });
    expect([2, 3, 4, 5].map((attempt) => retryDelayMs(policy, attempt))).toEqual([500, 1500, 4500, 13500]);
    expect(retryDelayMs(exponential(policy, { baseMs: 0 }), 5)).toBe(0);
  });
});

describe('decideAfterFailure', () => {
  it('retries after attempts 1 to 4 with the seed schedule, and dead-letters after attempt 5', () => {
    const decisions = [1, 2, 3, 4, 5].map((made) => decideAfterFailure(SEED, failed(made, MIDDLE)));
    expect(decisions).toEqual([
      { kind: 'retry', delayMs: 2000 },
      { kind: 'retry', delayMs: 4000 },
      { kind: 'retry', delayMs: 8000 },
      { kind: 'retry', delayMs: 16000 },
      { kind: 'dead', reason: 'all 5 attempts failed' },
    ]);
  });

  it('is dead beyond maxAttempts too', () => {
    expect(decideAfterFailure(SEED, failed(6, MIDDLE)).kind).toBe('dead');
    expect(decideAfterFailure(SEED, failed(100, MIDDLE)).kind).toBe('dead');
  });

  it('is dead immediately when the failure is not retryable', () => {
    expect(decideAfterFailure(SEED, failed(1, MIDDLE, { retryable: false }))).toEqual({ kind: 'dead', reason: 'the failure is permanent' });
  });

  it('never retries when maxAttempts is 1', () => {
    expect(decideAfterFailure({ ...SEED, maxAttempts: 1 }, failed(1, MIDDLE)).kind).toBe('dead');
  });

  it('passes the injected random through to the delay', () => {
    expect(decideAfterFailure(SEED, failed(1, LOW))).toEqual({ kind: 'retry', delayMs: 1600 });
    expect(decideAfterFailure(SEED, failed(4, HIGH))).toEqual({ kind: 'retry', delayMs: 19200 });
  });

  it('uses Math.random when no random is given', () => {
    const decision = decideAfterFailure(SEED, failed(2));
    expect(decision.kind).toBe('retry');
    if (decision.kind === 'retry') {
      expect(decision.delayMs).toBeGreaterThanOrEqual(3200);
      expect(decision.delayMs).toBeLessThanOrEqual(4800);
    }
  });
});

describe('the standard schedule (the default)', () => {
  it('is immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h: ten attempts', () => {
    expect(STANDARD.maxAttempts).toBe(10);
    expect([2, 3, 4, 5, 6, 7, 8, 9, 10].map((attempt) => retryDelayMs(STANDARD, attempt, MIDDLE))).toEqual(STANDARD_DELAYS_MS);
    expect(STANDARD_DELAYS_MS.map((ms) => ms / 1000)).toEqual([5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400]);
  });

  it('jitters every delay within +-20%, reaching both bounds', () => {
    for (const [index, nominal] of STANDARD_DELAYS_MS.entries()) {
      const attempt = index + 2;
      expect(retryDelayMs(STANDARD, attempt, LOW)).toBe(Math.round(nominal * 0.8));
      expect(retryDelayMs(STANDARD, attempt, HIGH)).toBeLessThanOrEqual(Math.round(nominal * 1.2));
      expect(retryDelayMs(STANDARD, attempt, HIGH)).toBeGreaterThan(Math.round(nominal * 1.19));
      for (let i = 0; i < 200; i++) {
        const delay = retryDelayMs(STANDARD, attempt);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8));
        expect(delay).toBeLessThanOrEqual(Math.ceil(nominal * 1.2));
      }
    }
  });

  it('walks the whole schedule with an injected clock: retries end after about 3.15 days, the 10th failure is dead', () => {
    let ageMs = 0;
    const delays: number[] = [];
    for (let made = 1; made <= 10; made++) {
      const decision = decideAfterFailure(STANDARD, failed(made, MIDDLE, { ageMs }));
      if (decision.kind === 'dead') {
        expect(made).toBe(10);
        break;
      }
      delays.push(decision.delayMs);
      ageMs += decision.delayMs;
    }
    expect(delays).toEqual(STANDARD_DELAYS_MS);
    expect(ageMs / 86_400_000).toBeCloseTo(3.15, 2);
  });

  it('dead-letters when the next retry would pass the maximum age', () => {
    const policy = { ...STANDARD, maxAgeMs: 60_000 };
    expect(decideAfterFailure(policy, failed(1, MIDDLE, { ageMs: 0 }))).toEqual({ kind: 'retry', delayMs: 5000 });
    expect(decideAfterFailure(policy, failed(2, MIDDLE, { ageMs: 5000 })).kind).toBe('dead');
  });

  it('keeps the last delay when maxAttempts is longer than the list', () => {
    const policy: RetryPolicy = { schedule: { kind: 'delays', delaysMs: [1000, 2000] }, maxAttempts: 6, maxAgeMs: null, jitter: 0 };
    expect([2, 3, 4, 5, 6].map((attempt) => retryDelayMs(policy, attempt))).toEqual([1000, 2000, 2000, 2000, 2000]);
  });
});

describe('Retry-After within the schedule', () => {
  it('never retries sooner than the schedule, and waits longer when the receiver asks', () => {
    expect(decideAfterFailure(SEED, failed(1, MIDDLE, { retryAfterMs: 500 }))).toEqual({ kind: 'retry', delayMs: 2000 });
    expect(decideAfterFailure(SEED, failed(1, MIDDLE, { retryAfterMs: 60_000 }))).toEqual({ kind: 'retry', delayMs: 60_000 });
  });
});

describe('policy validation and duration lists', () => {
  it('accepts the presets and names what is wrong otherwise', () => {
    expect(retryPolicyProblem(SEED)).toBeNull();
    expect(retryPolicyProblem(STANDARD)).toBeNull();
    expect(retryPolicyProblem({ ...SEED, maxAttempts: 0 })).toMatch(/maxAttempts/);
    expect(retryPolicyProblem({ ...SEED, jitter: 2 })).toMatch(/jitter/);
    expect(retryPolicyProblem({ ...STANDARD, schedule: { kind: 'delays', delaysMs: [] } })).toMatch(/delays/);
    expect(retryPolicyProblem({ ...STANDARD, schedule: { kind: 'delays', delaysMs: [-1] } })).toMatch(/delay/);
    expect(retryPolicyProblem(exponential(SEED, { factor: 0.5 }))).toMatch(/factor/);
  });

  it('parses "0,5s,5m,30m,2h,1d" and refuses anything else', () => {
    expect(parseDurationList('0,5s,5m,30m,2h,1d,250ms,1.5s')).toEqual([0, 5000, 300_000, 1_800_000, 7_200_000, 86_400_000, 250, 1500]);
    expect(parseDurationList('5 minutes')).toBeNull();
    expect(parseDurationList('')).toBeNull();
  });
});
