import { describe, expect, it } from 'vitest';
import { RetryGovernor } from '../../src/worker/retry-governor';

/** A governor on a hand-moved clock: windows of 100 ms, judged on at least 4 first attempts. */
function governor(max = 64, initial = 1) {
  let now = 0;
  const g = new RetryGovernor({ max, initial, windowMs: 100, minSamples: 4, tolerance: 1.5, slackMs: 1, now: () => now });
  /** One window: retries ran (and wanted more slots), first attempts' starts took these ms. */
  const window = (startsMs: number[], retries: 'none' | 'ran' | 'waited' = 'waited') => {
    if (retries !== 'none') g.retryActivity(retries === 'waited');
    for (const ms of startsMs) g.observe(ms);
    now += 100;
    // The window closes on the next event after it ended.
    if (retries !== 'none') g.retryActivity(retries === 'waited');
    else g.observe(startsMs[0] ?? 1);
  };
  const advance = (ms: number) => {
    now += ms;
  };
  return { g, window, advance };
}

describe("the retry lane's governor", () => {
  it('starts from its initial bound, within 1 and max', () => {
    expect(governor(64, 1).g.limit).toBe(1);
    expect(governor(8, 20).g.limit).toBe(8);
    expect(governor(8, 0).g.limit).toBe(1);
  });

  it('adds one slot a window while retries want more and first attempts start as fast as their baseline', () => {
    const { g, window } = governor();
    window([2, 2, 2, 2]);
    expect(g.baseline).toBe(2);
    for (let i = 0; i < 5; i++) window([2, 2, 2, 2]);
    expect(g.limit).toBeGreaterThanOrEqual(6);
  });

  it('halves the bound when first attempts start more than 1.5 times slower than their baseline while retries run', () => {
    const { g, window } = governor(64, 1);
    window([2, 2, 2, 2]);
    for (let i = 0; i < 10; i++) window([2, 2, 2, 2]);
    const before = g.limit;
    // 2 * 1.5 + 1 = 4 ms: 5 ms is congestion, 3.9 ms is not.
    window([5, 5, 5, 5]);
    expect(g.limit).toBe(Math.floor(before / 2));
    const after = g.limit;
    window([3.9, 3.9, 3.9, 3.9]);
    expect(g.limit).toBe(after + 1);
  });

  it('never goes below one retry at a time, nor above max', () => {
    const { g, window } = governor(4, 1);
    window([1, 1, 1, 1]);
    for (let i = 0; i < 5; i++) window([50, 50, 50, 50]);
    expect(g.limit).toBe(1);
    for (let i = 0; i < 20; i++) window([1, 1, 1, 1]);
    expect(g.limit).toBe(4);
  });

  it('grows by a quarter a window when no first attempts run (nothing to protect)', () => {
    const { g, window } = governor(64, 8);
    window([]);
    expect(g.limit).toBe(10);
    window([]);
    expect(g.limit).toBe(12);
  });

  it('does not grow while retries are not asking for more slots, and does not blame slowness on retries that did not run', () => {
    const { g, window } = governor(64, 4);
    window([2, 2, 2, 2], 'ran');
    expect(g.limit).toBe(4);
    window([9, 9, 9, 9], 'none');
    expect(g.limit).toBe(4);
  });

  it('judges a window only with enough first attempts: a few slow ones are waited on, not acted on', () => {
    const { g, window, advance } = governor(64, 8);
    window([2, 2, 2, 2]);
    expect(g.limit).toBe(9);
    // Two slow starts after a whole window: it stays open for more, up to four windows.
    g.retryActivity(true);
    advance(150);
    g.observe(30);
    g.observe(30);
    advance(200);
    g.retryActivity(true);
    expect(g.limit).toBe(9);
    // Four windows passed with two first attempts: judged as without any (nothing to protect), so it grows.
    advance(100);
    g.retryActivity(true);
    expect(g.limit).toBe(11);
  });

  it('follows a baseline that rises slowly and takes a lower one at once', () => {
    const { g, window } = governor();
    window([4, 4, 4, 4]);
    window([2, 2, 2, 2]);
    expect(g.baseline).toBe(2);
    window([3, 3, 3, 3]);
    expect(g.baseline).toBeCloseTo(2.02, 5);
  });
});
