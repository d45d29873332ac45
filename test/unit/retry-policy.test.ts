import { describe, expect, it } from 'vitest';
import { type BackoffPolicy, decideAfterFailure, retryDelayMs } from '../../src/delivery/retry-policy';

// The seed defaults (DELIVERY_MAX_ATTEMPTS / DELIVERY_BACKOFF_* in src/config).
const SEED: BackoffPolicy = { maxAttempts: 5, baseMs: 2000, factor: 2, maxMs: 86_400_000, jitter: 0.2 };
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
    const policy = { ...SEED, maxMs: 10_000 };
    expect(retryDelayMs(policy, 4, MIDDLE)).toBe(8000);
    expect(retryDelayMs(policy, 5, MIDDLE)).toBe(10_000);
    expect(retryDelayMs(policy, 50, MIDDLE)).toBe(10_000);
    expect(retryDelayMs(policy, 5, LOW)).toBe(8000);
  });

  it('never exceeds maxMs, even with upward jitter', () => {
    const policy = { ...SEED, maxMs: 10_000 };
    expect(retryDelayMs(policy, 5, HIGH)).toBeLessThanOrEqual(10_000);
    expect(retryDelayMs(policy, 50, HIGH)).toBeLessThanOrEqual(10_000);
    expect(retryDelayMs({ ...policy, jitter: 1 }, 50, HIGH)).toBeLessThanOrEqual(10_000);
    for (let i = 0; i < 500; i++) expect(retryDelayMs(policy, 6)).toBeLessThanOrEqual(10_000);
  });

  it('stays finite for huge attempt numbers', () => {
    const delay = retryDelayMs(SEED, 10_000, MIDDLE);
    expect(delay).toBe(SEED.maxMs);
  });

  it('supports other factors and bases', () => {
    const policy: BackoffPolicy = { maxAttempts: 10, baseMs: 500, factor: 3, maxMs: 1_000_000, jitter: 0 };
    expect([2, 3, 4, 5].map((attempt) => retryDelayMs(policy, attempt))).toEqual([500, 1500, 4500, 13500]);
    expect(retryDelayMs({ ...policy, baseMs: 0 }, 5)).toBe(0);
  });
});

describe('decideAfterFailure', () => {
  it('retries after attempts 1 to 4 with the seed schedule, and dead-letters after attempt 5', () => {
    const decisions = [1, 2, 3, 4, 5].map((made) => decideAfterFailure(SEED, made, true, MIDDLE));
    expect(decisions).toEqual([
      { kind: 'retry', delayMs: 2000 },
      { kind: 'retry', delayMs: 4000 },
      { kind: 'retry', delayMs: 8000 },
      { kind: 'retry', delayMs: 16000 },
      { kind: 'dead' },
    ]);
  });

  it('is dead beyond maxAttempts too', () => {
    expect(decideAfterFailure(SEED, 6, true, MIDDLE)).toEqual({ kind: 'dead' });
    expect(decideAfterFailure(SEED, 100, true, MIDDLE)).toEqual({ kind: 'dead' });
  });

  it('is dead immediately when the failure is not retryable', () => {
    expect(decideAfterFailure(SEED, 1, false, MIDDLE)).toEqual({ kind: 'dead' });
  });

  it('never retries when maxAttempts is 1', () => {
    expect(decideAfterFailure({ ...SEED, maxAttempts: 1 }, 1, true, MIDDLE)).toEqual({ kind: 'dead' });
  });

  it('passes the injected random through to the delay', () => {
    expect(decideAfterFailure(SEED, 1, true, LOW)).toEqual({ kind: 'retry', delayMs: 1600 });
    expect(decideAfterFailure(SEED, 4, true, HIGH)).toEqual({ kind: 'retry', delayMs: 19200 });
  });

  it('uses Math.random when no random is given', () => {
    const decision = decideAfterFailure(SEED, 2, true);
    expect(decision.kind).toBe('retry');
    if (decision.kind === 'retry') {
      expect(decision.delayMs).toBeGreaterThanOrEqual(3200);
      expect(decision.delayMs).toBeLessThanOrEqual(4800);
    }
  });
});
