import { setTimeout as sleepFor } from 'node:timers/promises';

export interface RetryOptions {
  /** The wait after the first failure. */
  initialDelayMs: number;
  /** The longest wait: each one doubles up to it. */
  maxDelayMs: number;
  /** Wait `initialDelayMs` before the first attempt too (work that has just failed elsewhere). */
  delayFirstAttempt?: boolean;
  /** No attempt starts after this instant (ms, as `now` tells it); the last error is thrown instead. */
  deadline?: number;
  /** At most this many attempts; the last one's error is thrown. */
  maxAttempts?: number;
  /** What is thrown when the deadline stops the retries (default: the last error). */
  deadlineError?: (lastError: unknown) => unknown;
  /** Errors worth another attempt; any other is thrown at once. Default: every error. */
  retryIf?: (error: unknown) => boolean;
  /** Told of each failure that will be retried, before the wait. */
  onRetry?: (failure: { error: unknown; attempt: number; delayMs: number }) => void;
  /** Ends the retries: the wait is cut short and the signal's reason thrown. */
  signal?: AbortSignal;
  /** For tests: how to wait and what time it is. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/**
 * Runs `work` until it succeeds, waiting between attempts with exponential backoff (doubling from `initialDelayMs`
 * to `maxDelayMs`), within an optional deadline and until an optional abort. `work` is given its attempt number
 * (from 1). The one backoff loop of Herald's own reconnections and retries.
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleepUnlessAborted = options.sleep ?? ((ms: number, signal?: AbortSignal) => sleepFor(ms, undefined, { signal }));
  const sleep = async (ms: number, signal?: AbortSignal) => {
    await sleepUnlessAborted(ms, signal).catch((error: unknown) => {
      throw signal?.aborted ? signal.reason : error;
    });
  };
  const now = options.now ?? Date.now;
  let delayMs = options.initialDelayMs;
  if (options.delayFirstAttempt) {
    await sleep(delayMs, options.signal);
    delayMs = nextDelay(delayMs, options.maxDelayMs);
  }
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await work(attempt);
    } catch (error) {
      if (options.retryIf && !options.retryIf(error)) throw error;
      if (options.maxAttempts !== undefined && attempt >= options.maxAttempts) throw error;
      if (options.deadline !== undefined && now() + delayMs > options.deadline) {
        throw options.deadlineError ? options.deadlineError(error) : error;
      }
      options.onRetry?.({ error, attempt, delayMs });
      await sleep(delayMs, options.signal);
      delayMs = nextDelay(delayMs, options.maxDelayMs);
    }
  }
}

function nextDelay(delayMs: number, maxDelayMs: number): number {
  return Math.min(maxDelayMs, delayMs * 2);
}
