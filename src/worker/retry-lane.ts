import type { Worker, WorkerEvents } from 'graphile-worker';
import { RETRY_JOB_FLAG } from '../queue/deliver-job';
import { RetryGovernor } from './retry-governor';

const RETRIES_FORBIDDEN = [RETRY_JOB_FLAG];
type FetchFlags = string[] | null;

/**
 * The retry lane of one worker process (docs/delivery-policy.md): at most `limit` retry attempts run at once, so
 * the rest of WORKER_CONCURRENCY is always free for first attempts. While the lane is full, workers fetch with
 * the retry flag forbidden (graphile-worker's forbiddenFlags), so retries stay in the table, unlocked, instead of
 * being taken and put back. A retry that still gets in (several workers took jobs from the local queue at once)
 * waits in memory for the next slot: the lane counts it, so such waiters stay fewer than the workers that raced.
 *
 * A fetch with the flag forbidden that finds nothing reads every due retry on its way (graphile-worker orders by
 * priority, then filters): with 10,000 retries due, about 4 ms of PostgreSQL CPU. So while the lane is full, a
 * worker with no job is held in forbiddenFlags until there is something it could find: a job inserted (a
 * jobs:insert notification), a slot of the lane freed, or, once a poll interval, one worker sent to look for jobs
 * that came due without a notification (scheduled deliveries).
 */
export class RetryLane {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /**
   * Workers that found no job (only a fetch with forbidden flags comes back empty with a local queue): they sleep a
   * poll interval unless nudged. Tracked whatever the lane is now: it may have freed a slot during the fetch.
   */
  private readonly idle = new Set<Worker>();
  /** Workers held in forbiddenFlags while the lane is full, in arrival order. */
  private readonly held: Array<(flags: FetchFlags) => void> = [];
  /**
   * Jobs inserted while the lane was full that no held or idle worker was sent for: the next workers to ask fetch at
   * once. Kept only while the lane stays full: with room, workers fetch through the local queue anyway, and a count
   * left from then would send workers to read every due retry when a storm falls due.
   */
  private unclaimedInserts = 0;
  private scout: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly governor: RetryGovernor;

  constructor(
    /** The most retries at once; how many may run now is the governor's (see RetryGovernor). */
    readonly max: number,
    private readonly pollIntervalMs = 1000,
    /** Bounds unclaimedInserts: more than one per worker would only send workers to find nothing. */
    private readonly workers = Number.POSITIVE_INFINITY,
    governor?: RetryGovernor,
  ) {
    this.governor = governor ?? new RetryGovernor({ max });
  }

  /** How many retries may run at once now. */
  get limit(): number {
    return this.governor.limit;
  }

  get inFlight(): number {
    return this.running;
  }

  /** Workers held waiting for something to fetch (observability and tests). */
  get heldWorkers(): number {
    return this.held.length;
  }

  private get full(): boolean {
    return this.running + this.waiting.length >= this.governor.limit;
  }

  /** A first attempt's start transaction took `ms`: what the governor weighs retries' cost by. */
  observeFirstAttemptStart(ms: number): void {
    this.governor.observe(ms);
    this.fillRoom();
  }

  /**
   * graphile-worker's forbiddenFlags: null (the local queue's batched fetch) while the lane has room; the retry flag
   * once it is full, after holding the worker until a fetch may find a first attempt.
   */
  readonly forbiddenFlags = (): FetchFlags | Promise<FetchFlags> => {
    if (!this.full) return this.withRoom();
    // A worker would take a retry if it could: the governor may let more run.
    this.governor.retryActivity(true);
    if (!this.full) return this.withRoom();
    if (this.closed) return RETRIES_FORBIDDEN;
    if (this.unclaimedInserts > 0) {
      this.unclaimedInserts -= 1;
      return RETRIES_FORBIDDEN;
    }
    return new Promise<FetchFlags>((resolve) => {
      this.held.push(resolve);
      this.startScout();
    });
  };

  /** The lane has room: the local queue's batched fetch, which finds what was inserted. */
  private withRoom(): FetchFlags {
    this.unclaimedInserts = 0;
    return null;
  }

  /** Resolves once the retry holds a slot of the lane. */
  enter(): Promise<void> {
    this.governor.retryActivity(false);
    if (this.running < this.governor.limit) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A retry ended: its slot goes to a waiting retry, or a held or idle worker may take the next job now. */
  leave(): void {
    this.running -= 1;
    this.governor.retryActivity(false);
    if (!this.fillRoom()) this.nudgeIdle(1);
  }

  /**
   * Gives the lane's free slots to waiting retries, then to held workers (which fetch through the local queue);
   * false when there was room and nobody to give it to.
   */
  private fillRoom(): boolean {
    while (this.waiting.length > 0 && this.running < this.governor.limit) {
      this.running += 1;
      this.waiting.shift()!();
    }
    if (this.full) return true;
    if (this.held.length === 0) return false;
    // As many as there are free slots: a worker sent takes a retry only once it has fetched one, so the lane is not
    // full again before then, and sending every held worker would fetch a retry for each.
    this.releaseHeld(this.governor.limit - this.running - this.waiting.length, () => null);
    return true;
  }

  /**
   * With a local queue, graphile-worker hands "new job" notifications to the local queue only, which does not
   * wake a worker sleeping after a fetch with forbidden flags, nor one held here: a due first attempt would wait
   * for a poll.
   */
  attach(events: WorkerEvents): void {
    events.on('worker:getJob:empty', ({ worker }) => this.idle.add(worker));
    events.on('job:start', ({ worker }) => this.idle.delete(worker));
    events.on('worker:release', ({ worker }) => {
      this.idle.delete(worker);
      // A worker held in forbiddenFlags cannot end: the pool is stopping, so every held worker goes.
      this.close();
    });
    events.on('pool:gracefulShutdown', () => this.close());
    // A pool started after a failure (startWorker's replacement) is held again.
    events.on('pool:create', () => {
      this.closed = false;
    });
    events.on('pool:listen:notification', ({ message }) => {
      if (message.channel !== 'jobs:insert') return;
      let count = insertedCount(message.payload);
      // Sent for first attempts: a slot of the lane is fillRoom's to give.
      count -= this.releaseHeld(count, () => RETRIES_FORBIDDEN);
      if (count > 0) count -= this.nudgeIdle(count);
      if (count > 0 && this.full) this.unclaimedInserts = Math.min(this.workers, this.unclaimedInserts + count);
    });
  }

  /** Stops holding workers (the pool is shutting down): the held go now, later askers are not held. */
  close(): void {
    this.closed = true;
    this.releaseHeld(this.held.length, () => RETRIES_FORBIDDEN);
    this.stopScout();
  }

  /** Sends up to `count` held workers to fetch, each with `flags()`; returns how many went. */
  private releaseHeld(count: number, flags: () => FetchFlags): number {
    let sent = 0;
    while (sent < count && this.held.length > 0) {
      this.held.shift()!(flags());
      sent += 1;
    }
    if (this.held.length === 0) this.stopScout();
    return sent;
  }

  private startScout(): void {
    if (this.scout || this.closed) return;
    this.scout = setInterval(() => this.releaseHeld(1, () => (this.full ? RETRIES_FORBIDDEN : null)), this.pollIntervalMs);
    this.scout.unref();
  }

  private stopScout(): void {
    if (!this.scout) return;
    clearInterval(this.scout);
    this.scout = null;
  }

  /** Wakes up to `count` workers sleeping after an empty fetch; returns how many woke. */
  private nudgeIdle(count: number): number {
    let woken = 0;
    for (const worker of this.idle) {
      if (woken >= count) break;
      this.idle.delete(worker);
      try {
        if (worker.nudge()) woken += 1;
      } catch {
        // The worker has stopped.
      }
    }
    return woken;
  }
}

/** graphile-worker's jobs:insert payload is `{"r":..., "count": n}`; -1 (a job unlocked) and anything else count 1. */
function insertedCount(payload: string | undefined): number {
  try {
    const count = Number((JSON.parse(payload ?? '{}') as { count?: unknown }).count ?? 1);
    return Number.isFinite(count) && count > 0 ? count : 1;
  } catch {
    return 1;
  }
}
