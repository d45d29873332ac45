import { EventEmitter } from 'node:events';
import type { WorkerEvents } from 'graphile-worker';
import { describe, expect, it } from 'vitest';
import type { RetryGovernor } from '../../src/worker/retry-governor';
import { RetryLane } from '../../src/worker/retry-lane';

/** A governor whose bound the test sets, recording what the lane tells it (the governor has tests of its own). */
function fakeGovernor(limit: number) {
  const governor = {
    limit,
    observed: [] as number[],
    activity: [] as boolean[],
    observe(ms: number) {
      governor.observed.push(ms);
    },
    retryActivity(waited: boolean) {
      governor.activity.push(waited);
    },
  };
  return governor;
}

function laneWith(limit: number) {
  const governor = fakeGovernor(limit);
  const lane = new RetryLane(8, governor as unknown as RetryGovernor);
  const events = new EventEmitter() as WorkerEvents;
  lane.attach(events);
  return { lane, governor, events };
}

/** The settled value of a promise, or 'pending' (after the microtasks queued so far). */
async function state<T>(value: T | Promise<T>): Promise<T | 'pending'> {
  return Promise.race([Promise.resolve(value), new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}

describe('the retry lane', () => {
  it('lets as many workers fetch as the governor allows, and holds the next until one leaves, in arrival order', async () => {
    const { lane, governor } = laneWith(2);
    expect(lane.forbiddenFlags()).toBeNull();
    expect(lane.forbiddenFlags()).toBeNull();
    expect(lane.inFlight).toBe(2);

    const third = lane.forbiddenFlags();
    const fourth = lane.forbiddenFlags();
    expect(await state(third)).toBe('pending');
    expect(await state(fourth)).toBe('pending');
    expect(lane.heldWorkers).toBe(2);
    // Each held worker told the governor that a retry wanted a place.
    expect(governor.activity).toEqual([true, true]);

    lane.leave();
    expect(await state(third)).toBeNull();
    expect(await state(fourth)).toBe('pending');
    expect(lane.inFlight).toBe(2);

    lane.leave();
    expect(await state(fourth)).toBeNull();
    expect(lane.heldWorkers).toBe(0);
  });

  it('gives back the place of a worker whose fetch found no retry', async () => {
    const { lane, events } = laneWith(1);
    expect(lane.forbiddenFlags()).toBeNull();
    const held = lane.forbiddenFlags();
    expect(await state(held)).toBe('pending');

    events.emit('worker:getJob:empty', {} as never);
    expect(await state(held)).toBeNull();
    expect(lane.inFlight).toBe(1);
  });

  it('lets held workers in as soon as the governor raises its bound (told of a first attempt start)', async () => {
    const { lane, governor } = laneWith(1);
    expect(lane.forbiddenFlags()).toBeNull();
    const held = [lane.forbiddenFlags(), lane.forbiddenFlags(), lane.forbiddenFlags()];

    governor.limit = 3;
    lane.observeFirstAttemptStart(4.5);
    expect(governor.observed).toEqual([4.5]);
    expect(await Promise.all(held.map((flags) => state(flags)))).toEqual([null, null, 'pending']);
    expect(lane.inFlight).toBe(3);

    // A lower bound holds new workers, and lets none in while more than it run.
    governor.limit = 1;
    lane.leave();
    expect(await state(held[2]!)).toBe('pending');
    lane.leave();
    expect(await state(held[2]!)).toBe('pending');
    lane.leave();
    expect(await state(held[2]!)).toBeNull();
  });

  it('lets every held worker go when its pool stops, holds none until a new pool starts, then governs again', async () => {
    const { lane, events } = laneWith(1);
    expect(lane.forbiddenFlags()).toBeNull();
    const held = [lane.forbiddenFlags(), lane.forbiddenFlags()];

    events.emit('pool:gracefulShutdown', {} as never);
    expect(await Promise.all(held.map((flags) => state(flags)))).toEqual([null, null]);
    expect(lane.forbiddenFlags()).toBeNull();

    events.emit('pool:create', {} as never);
    for (let n = 0; n < 4; n += 1) lane.leave();
    expect(lane.forbiddenFlags()).toBeNull();
    expect(await state(lane.forbiddenFlags())).toBe('pending');
  });

  it('never counts fewer than none in flight', () => {
    const { lane } = laneWith(1);
    lane.leave();
    expect(lane.inFlight).toBe(0);
    expect(lane.forbiddenFlags()).toBeNull();
    expect(lane.inFlight).toBe(1);
  });
});
