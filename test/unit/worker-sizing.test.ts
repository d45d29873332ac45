import { describe, expect, it } from 'vitest';
import { isGraphileWorkerSizingAdvice } from '../../src/db/graphile-worker-logger';
import { workerSizingNote } from '../../src/worker/worker-sizing';

describe("graphile-worker's sizing advice and Herald's own line", () => {
  it("recognises graphile-worker 0.17's two start-up warnings, and nothing else", () => {
    expect(
      isGraphileWorkerSizingAdvice('WARNING: having maxPoolSize (64) smaller than concurrency (128) may lead to non-optimal performance.'),
    ).toBe(true);
    expect(
      isGraphileWorkerSizingAdvice(
        'Your job batch size (64) is smaller than your concurrency setting (128); this may result in drastically lower performance if your jobs can complete quickly. Please update to `localQueueSize: 128` to improve performance, or `localQueueSize: -1` to disable batching.',
      ),
    ).toBe(true);
    expect(isGraphileWorkerSizingAdvice('Error occurred fetching jobs; will try again on next poll interval.')).toBe(false);
  });

  it('says why the defaults differ from the advice, and nothing when they do not', () => {
    const note = workerSizingNote({ concurrency: 128, localQueueSize: 64, poolSize: 64 });
    expect(note?.fields).toEqual({ concurrency: 128, localQueueSize: 64, poolSize: 64 });
    expect(note?.message).toMatch(/^worker sizing: 128 job slots share 64 connections and fetch jobs 64 at a time, as intended/);
    // No local queue: the pool has a connection per slot (src/db/database.ts), which is what graphile-worker asks.
    expect(workerSizingNote({ concurrency: 128, localQueueSize: 0, poolSize: 128 })).toBeNull();
    expect(workerSizingNote({ concurrency: 64, localQueueSize: 64, poolSize: 64 })).toBeNull();
  });
});
