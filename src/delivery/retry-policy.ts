export interface BackoffPolicy {
  /** Total attempts, the first included; after the last failure the delivery is dead-lettered. */
  maxAttempts: number;
  baseMs: number;
  factor: number;
  maxMs: number;
  /** Fraction of the delay to randomise, both ways: 0.2 gives +-20%. */
  jitter: number;
}

/**
 * Delay before attempt `nextAttempt` (2 for the first retry), exponential from `baseMs`: with the seed
 * defaults 2 s, 4 s, 8 s, 16 s. Jitter spreads retries of many deliveries that failed together.
 * `random` returns a number in [0, 1), injected so tests can pin it.
 */
export function retryDelayMs(policy: BackoffPolicy, nextAttempt: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, nextAttempt - 2);
  const nominal = Math.min(policy.maxMs, policy.baseMs * Math.pow(policy.factor, exponent));
  const spread = nominal * policy.jitter;
  // Clamp after jitter too, so `maxMs` really is the longest wait (jitter could add up to `jitter` x `maxMs`).
  return Math.min(policy.maxMs, Math.max(0, Math.round(nominal - spread + random() * 2 * spread)));
}

export type RetryDecision = { kind: 'retry'; delayMs: number } | { kind: 'dead' };

export function decideAfterFailure(policy: BackoffPolicy, attemptsMade: number, retryable: boolean, random?: () => number): RetryDecision {
  if (!retryable || attemptsMade >= policy.maxAttempts) return { kind: 'dead' };
  return { kind: 'retry', delayMs: retryDelayMs(policy, attemptsMade + 1, random) };
}
