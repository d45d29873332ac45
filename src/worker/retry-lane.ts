import type { Worker, WorkerEvents } from 'graphile-worker';
import { RETRY_JOB_FLAG } from '../queue/deliver-job';

/**
 * The retry lane of one worker process (docs/delivery-policy.md): at most `limit` retry attempts run at once, so
 * the rest of WORKER_CONCURRENCY is always free for first attempts. While the lane is full, workers fetch with
 * the retry flag forbidden (graphile-worker's forbiddenFlags), so retries stay in the table, unlocked, instead of
 * being taken and put back. A retry that still gets in (several workers took jobs from the local queue at once)
 * waits in memory for the next slot: the lane counts it, so such waiters stay fewer than the workers that raced.
 */
export class RetryLane {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /**
   * Workers that found no job (only a fetch with forbidden flags comes back empty with a local queue): they sleep a
   * poll interval unless nudged. Tracked whatever the lane is now: it may have freed a slot during the fetch.
   */
  private readonly idle = new Set<Worker>();

  constructor(readonly limit: number) {}

  get inFlight(): number {
    return this.running;
  }

  /** graphile-worker's forbiddenFlags: null (the local queue's batched fetch) while the lane has room. */
  readonly forbiddenFlags = (): string[] | null => (this.running + this.waiting.length >= this.limit ? [RETRY_JOB_FLAG] : null);

  /** Resolves once the retry holds a slot of the lane. */
  enter(): Promise<void> {
    if (this.running < this.limit) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A retry ended: its slot goes to a waiting retry, or a worker left idle may take the next one now. */
  leave(): void {
    const next = this.waiting.shift();
    if (next) return next();
    this.running -= 1;
    this.nudgeIdle(1);
  }

  /**
   * With a local queue, graphile-worker hands "new job" notifications to the local queue only, which does not
   * wake a worker sleeping after a fetch with forbidden flags: a due first attempt would wait for its poll.
   */
  attach(events: WorkerEvents): void {
    events.on('worker:getJob:empty', ({ worker }) => this.idle.add(worker));
    events.on('job:start', ({ worker }) => this.idle.delete(worker));
    events.on('worker:release', ({ worker }) => this.idle.delete(worker));
    events.on('pool:listen:notification', ({ message }) => {
      if (message.channel !== 'jobs:insert') return;
      if (this.idle.size > 0) this.nudgeIdle(insertedCount(message.payload));
    });
  }

  private nudgeIdle(count: number): void {
    let left = count;
    for (const worker of this.idle) {
      if (left <= 0) return;
      this.idle.delete(worker);
      try {
        if (worker.nudge()) left -= 1;
      } catch {
        // The worker has stopped.
      }
    }
  }
}

/** graphile-worker's jobs:insert payload is `{"r":..., "count": n}`. */
function insertedCount(payload: string | undefined): number {
  try {
    const count = Number((JSON.parse(payload ?? '{}') as { count?: unknown }).count ?? 1);
    return Number.isFinite(count) ? count : 1;
  } catch {
    return 1;
  }
}
