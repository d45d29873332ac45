import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AttemptSlots } from '../../src/lib/attempt-slots';

describe('AttemptSlots', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('grants up to its size at once, then hands each freed slot to the oldest waiter', async () => {
    const slots = new AttemptSlots(2);
    const first = await slots.acquire(1000);
    const second = await slots.acquire(1000);
    expect([first, second].every((release) => typeof release === 'function')).toBe(true);
    expect(slots.inUse).toBe(2);
    const order: string[] = [];
    const third = slots.acquire(1000).then((release) => (order.push('third'), release));
    const fourth = slots.acquire(1000).then((release) => (order.push('fourth'), release));
    expect(slots.queued).toBe(2);
    first!();
    first!(); // a second release of the same slot frees nothing more
    const thirdRelease = await third;
    expect(order).toEqual(['third']);
    expect(slots.inUse).toBe(2);
    second!();
    await fourth;
    expect(order).toEqual(['third', 'fourth']);
    thirdRelease!();
    expect(slots.inUse).toBe(1);
  });

  it('gives a waiter null once its timeout passes, and the slot it did not get goes to the next', async () => {
    const slots = new AttemptSlots(1);
    const held = await slots.acquire(1000);
    const late = slots.acquire(100);
    const patient = slots.acquire(10_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(await late).toBeNull();
    expect(slots.queued).toBe(1);
    held!();
    const release = await patient;
    expect(typeof release).toBe('function');
    release!();
    expect([slots.inUse, slots.queued]).toEqual([0, 0]);
  });

  it('does not let a newcomer take a free slot ahead of the waiters', async () => {
    const slots = new AttemptSlots(1);
    const held = await slots.acquire(1000);
    const waiting = slots.acquire(1000);
    held!();
    // The freed slot went to the waiter, not back to the pool.
    const newcomer = slots.acquire(50);
    await vi.advanceTimersByTimeAsync(50);
    expect(await newcomer).toBeNull();
    expect(typeof (await waiting)).toBe('function');
  });

  it('refuses a size below 1', () => {
    expect(() => new AttemptSlots(0)).toThrow(/at least 1/);
  });
});
