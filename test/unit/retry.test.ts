import { describe, expect, it } from 'vitest';
import { retry } from '../../src/lib/retry';

/** A clock that moves only when the retry sleeps, recording each wait. */
function fakeTime(start = 1_000_000) {
  let now = start;
  const waits: number[] = [];
  return {
    waits,
    now: () => now,
    sleep: async (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      waits.push(ms);
      now += ms;
    },
  };
}

/** Work that fails `failures` times (with the errors given, or a plain one), then answers `value`. */
function failingTimes<T>(failures: number, value: T, errorOf: (attempt: number) => unknown = (n) => new Error(`failure ${n}`)) {
  const attempts: number[] = [];
  return {
    attempts,
    work: async (attempt: number) => {
      attempts.push(attempt);
      if (attempts.length <= failures) throw errorOf(attempt);
      return value;
    },
  };
}

describe('retry: exponential backoff with a cap, a deadline and an abort signal', () => {
  it('doubles each wait up to the cap and answers what the work answers once it succeeds', async () => {
    const time = fakeTime();
    const { work, attempts } = failingTimes(6, 'ok');
    const retried: Array<[number, number]> = [];
    const result = await retry(work, {
      initialDelayMs: 250,
      maxDelayMs: 5000,
      ...time,
      onRetry: ({ attempt, delayMs }) => retried.push([attempt, delayMs]),
    });
    expect(result).toBe('ok');
    expect(attempts).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(time.waits).toEqual([250, 500, 1000, 2000, 4000, 5000]);
    expect(retried).toEqual([
      [1, 250],
      [2, 500],
      [3, 1000],
      [4, 2000],
      [5, 4000],
      [6, 5000],
    ]);
  });

  it('makes at most maxAttempts attempts and throws the last error, whatever the time left', async () => {
    const time = fakeTime();
    const { work, attempts } = failingTimes(5, 'never');
    await expect(retry(work, { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: 3, ...time })).rejects.toThrow('failure 3');
    expect(attempts).toEqual([1, 2, 3]);
    expect(time.waits).toEqual([10, 20]);
    const twice = failingTimes(1, 'second');
    expect(await retry(twice.work, { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: 2, ...time })).toBe('second');
  });

  it('does not wait at all when the first attempt succeeds, unless told to wait before it', async () => {
    const time = fakeTime();
    expect(await retry(async () => 1, { initialDelayMs: 100, maxDelayMs: 1000, ...time })).toBe(1);
    expect(time.waits).toEqual([]);
    const { work } = failingTimes(1, 2);
    expect(await retry(work, { initialDelayMs: 1000, maxDelayMs: 30_000, delayFirstAttempt: true, ...time })).toBe(2);
    expect(time.waits).toEqual([1000, 2000]);
  });

  it('throws an error that is not worth retrying at once', async () => {
    const time = fakeTime();
    const refused = new Error('password authentication failed');
    const { work, attempts } = failingTimes(3, 'never', (n) => (n === 1 ? new Error('transient') : refused));
    await expect(
      retry(work, { initialDelayMs: 100, maxDelayMs: 1000, retryIf: (error) => (error as Error).message === 'transient', ...time }),
    ).rejects.toBe(refused);
    expect(attempts).toEqual([1, 2]);
    expect(time.waits).toEqual([100]);
  });

  it('starts no attempt whose wait would end after the deadline: the last error, or the one deadlineError makes', async () => {
    const time = fakeTime();
    const { work, attempts } = failingTimes(100, 'never');
    await expect(retry(work, { initialDelayMs: 100, maxDelayMs: 2000, deadline: time.now() + 1000, ...time })).rejects.toThrow('failure 4');
    // 100 + 200 + 400 = 700 ms waited; the next wait (800) would end past the deadline.
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(time.waits).toEqual([100, 200, 400]);

    const later = fakeTime();
    await expect(
      retry(failingTimes(100, 'never').work, {
        initialDelayMs: 100,
        maxDelayMs: 100,
        deadline: later.now() + 250,
        deadlineError: (last) => new Error(`gave up: ${(last as Error).message}`),
        ...later,
      }),
    ).rejects.toThrow('gave up: failure 3');
  });

  it('an abort ends the retries with the signal’s reason, during a real wait too', async () => {
    const stop = new AbortController();
    const reason = new Error('stopping');
    const { work, attempts } = failingTimes(100, 'never');
    const retrying = retry(work, { initialDelayMs: 60_000, maxDelayMs: 60_000, signal: stop.signal });
    await new Promise((resolve) => setImmediate(resolve));
    stop.abort(reason);
    await expect(retrying).rejects.toBe(reason);
    expect(attempts).toEqual([1]);

    await expect(retry(async () => 'never run', { initialDelayMs: 1, maxDelayMs: 1, signal: stop.signal })).rejects.toBe(reason);
  });
});
