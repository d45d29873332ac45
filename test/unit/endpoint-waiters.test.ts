import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EndpointWaiters } from '../../src/engine/endpoint-waiters';

describe('EndpointWaiters', () => {
  let now = 0;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 0;
  });
  afterEach(() => vi.useRealTimers());

  const waiters = () => new EndpointWaiters(100, () => now);

  it('lets a delivery wait only for slots this process holds, one waiter per slot', () => {
    const w = waiters();
    expect(w.claim('ep_a')).toBe(false);
    w.admitted('ep_a');
    w.admitted('ep_a');
    expect(w.claim('ep_a')).toBe(true);
    expect(w.claim('ep_a')).toBe(true);
    expect(w.claim('ep_a')).toBe(false);
    expect(w.claim('ep_b')).toBe(false);
    w.unclaim('ep_a');
    expect(w.claim('ep_a')).toBe(true);
  });

  it('hands a freed slot to the oldest waiter, and gives up after maxWaitMs', async () => {
    const w = waiters();
    const releaseFirst = w.admitted('ep_a');
    w.admitted('ep_a');
    const order: string[] = [];
    expect(w.claim('ep_a')).toBe(true);
    const first = w.wait('ep_a').then(() => order.push(`first at ${now}`));
    expect(w.claim('ep_a')).toBe(true);
    const second = w.wait('ep_a').then(() => order.push(`second at ${now}`));
    now = 10;
    releaseFirst();
    releaseFirst(); // a second report of the same release frees nothing more
    await first;
    expect(order).toEqual(['first at 10']);
    now = 110;
    await vi.advanceTimersByTimeAsync(100);
    await second;
    expect(order).toEqual(['first at 10', 'second at 110']);
  });

  it('does not wait when the endpoint holds its slots too long for a slot to come within maxWaitMs', () => {
    const w = waiters();
    const release = w.admitted('ep_slow');
    w.admitted('ep_slow');
    now = 5000;
    release(); // held 5 s: one slot frees about every 5 s
    w.admitted('ep_slow');
    expect(w.claim('ep_slow')).toBe(false);

    const fast = waiters();
    const releases = Array.from({ length: 32 }, () => fast.admitted('ep_fast'));
    now += 200;
    releases[0]!();
    fast.admitted('ep_fast');
    // 32 slots held ~200 ms each: one frees about every 6 ms, so 16 waiters get a slot within 100 ms.
    const granted = Array.from({ length: 32 }, () => fast.claim('ep_fast')).filter(Boolean).length;
    expect(granted).toBe(16);
  });

  it('never waits when turned off', () => {
    const w = new EndpointWaiters(0, () => now);
    w.admitted('ep_a');
    expect(w.claim('ep_a')).toBe(false);
  });
});
