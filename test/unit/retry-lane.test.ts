import { EventEmitter } from 'node:events';
import type { Worker, WorkerEvents } from 'graphile-worker';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RetryGovernor } from '../../src/worker/retry-governor';
import { RetryLane } from '../../src/worker/retry-lane';

const FORBIDDEN = ['retry'];

/** graphile-worker's event emitter, with the events the lane listens to. */
function laneWithEvents(limit: number, pollIntervalMs = 1000, workers = 8) {
  const events = new EventEmitter() as WorkerEvents;
  // A bound that does not move: the governor has tests of its own.
  const lane = new RetryLane(
    limit,
    pollIntervalMs,
    workers,
    new RetryGovernor({ max: limit, initial: limit, windowMs: Number.POSITIVE_INFINITY }),
  );
  lane.attach(events);
  const inserted = (count: number) =>
    events.emit('pool:listen:notification', { message: { channel: 'jobs:insert', payload: JSON.stringify({ r: 0.5, count }) } } as never);
  return { lane, events, inserted };
}

/** A worker sleeping after an empty fetch: nudge() wakes it (true) once. */
function sleepingWorker(): Worker & { nudges: number } {
  const worker = { nudges: 0, nudge: () => (worker.nudges += 1) > 0 };
  return worker as unknown as Worker & { nudges: number };
}

/** The settled value of a promise, or 'pending' (after the microtasks queued so far). */
async function state<T>(value: T | Promise<T>): Promise<T | 'pending'> {
  return Promise.race([Promise.resolve(value), new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}

describe('the retry lane', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fetches with no flag (the local queue) while it has room, and forbids retries once full', async () => {
    const { lane } = laneWithEvents(2);
    expect(lane.forbiddenFlags()).toBeNull();
    await lane.enter();
    expect(lane.forbiddenFlags()).toBeNull();
    await lane.enter();
    expect(lane.inFlight).toBe(2);
    // Full: a worker with nothing to fetch is held rather than sent to read every due retry.
    expect(await state(lane.forbiddenFlags())).toBe('pending');
    expect(lane.heldWorkers).toBe(1);
  });

  it('sends one held worker per job inserted, with retries forbidden, and keeps the rest held', async () => {
    const { lane, inserted } = laneWithEvents(1);
    await lane.enter();
    const first = lane.forbiddenFlags();
    const second = lane.forbiddenFlags();
    const third = lane.forbiddenFlags();
    inserted(2);
    expect(await state(first)).toEqual(FORBIDDEN);
    expect(await state(second)).toEqual(FORBIDDEN);
    expect(await state(third)).toBe('pending');
  });

  it('gives a freed slot to a held worker, which fetches through the local queue', async () => {
    const { lane } = laneWithEvents(1);
    await lane.enter();
    const held = lane.forbiddenFlags();
    lane.leave();
    expect(await state(held)).toBeNull();
    expect(lane.heldWorkers).toBe(0);
  });

  it('sends as many held workers as slots were freed, not all of them (each could fetch a retry)', async () => {
    const { lane } = laneWithEvents(2);
    await lane.enter();
    await lane.enter();
    const held = [lane.forbiddenFlags(), lane.forbiddenFlags(), lane.forbiddenFlags()];
    lane.leave();
    expect(await Promise.all(held.map((flags) => state(flags)))).toEqual([null, 'pending', 'pending']);
    expect(lane.heldWorkers).toBe(2);
  });

  it('hands a freed slot to a retry already waiting for one before any held worker', async () => {
    const { lane } = laneWithEvents(1);
    await lane.enter();
    const waitingRetry = lane.enter();
    const held = lane.forbiddenFlags();
    lane.leave();
    expect(await state(waitingRetry)).toBeUndefined();
    expect(lane.inFlight).toBe(1);
    expect(await state(held)).toBe('pending');
  });

  it('wakes sleeping workers for inserts no held worker took, and banks the rest for the next to ask', async () => {
    const { lane, events, inserted } = laneWithEvents(1);
    await lane.enter();
    const sleeper = sleepingWorker();
    events.emit('worker:getJob:empty', { worker: sleeper } as never);
    inserted(3);
    expect(sleeper.nudges).toBe(1);
    // Two inserts were not claimed: the next two askers fetch at once, the third is held.
    expect(lane.forbiddenFlags()).toEqual(FORBIDDEN);
    expect(lane.forbiddenFlags()).toEqual(FORBIDDEN);
    expect(await state(lane.forbiddenFlags())).toBe('pending');
  });

  it('banks inserts only while the lane is full, and forgets them once it has room', async () => {
    const { lane, inserted } = laneWithEvents(1);
    // Room: workers fetch through the local queue, which finds these jobs; nothing is banked.
    inserted(5);
    await lane.enter();
    expect(await state(lane.forbiddenFlags())).toBe('pending');
    const { lane: other, inserted: insertedToOther } = laneWithEvents(1);
    await other.enter();
    insertedToOther(3);
    other.leave();
    // A worker asking with room fetches through the local queue: the three inserts are no longer owed a fetch.
    expect(other.forbiddenFlags()).toBeNull();
    await other.enter();
    expect(await state(other.forbiddenFlags())).toBe('pending');
  });

  it('banks no more inserts than there are workers', async () => {
    const { lane, inserted } = laneWithEvents(1, 1000, 3);
    await lane.enter();
    inserted(100);
    const asked = Array.from({ length: 4 }, () => lane.forbiddenFlags());
    expect(asked.slice(0, 3)).toEqual([FORBIDDEN, FORBIDDEN, FORBIDDEN]);
    expect(await state(asked[3]!)).toBe('pending');
  });

  it('sends one held worker a poll interval to look for jobs that came due without a notification', async () => {
    vi.useFakeTimers();
    const { lane } = laneWithEvents(1, 500);
    await lane.enter();
    const settled: Array<string[] | null> = [];
    for (let i = 0; i < 3; i++) void Promise.resolve(lane.forbiddenFlags()).then((flags) => settled.push(flags));
    await vi.advanceTimersByTimeAsync(499);
    expect(settled).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toEqual([FORBIDDEN]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(settled).toEqual([FORBIDDEN, FORBIDDEN, FORBIDDEN]);
    // Nobody held: no timer left running.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets every held worker go when the pool shuts down, and holds none after, until a new pool starts', async () => {
    const { lane, events } = laneWithEvents(1);
    await lane.enter();
    const held = [lane.forbiddenFlags(), lane.forbiddenFlags()];
    events.emit('pool:gracefulShutdown', {} as never);
    expect(await Promise.all(held)).toEqual([FORBIDDEN, FORBIDDEN]);
    expect(lane.forbiddenFlags()).toEqual(FORBIDDEN);
    events.emit('pool:create', {} as never);
    expect(await state(lane.forbiddenFlags())).toBe('pending');
  });
});
