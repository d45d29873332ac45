import type { WorkerEvents } from 'graphile-worker';
import { RetryGovernor } from './retry-governor';

/**
 * The retry lane of one worker process (docs/delivery-policy.md): retries' jobs have a task of their own, fetched
 * only by the worker's retry pool (RETRY_CONCURRENCY_SHARE of WORKER_CONCURRENCY slots), so first attempts are fetched
 * and run by pools that never see them. Within that pool, at most the governor's number of retries run at once: a
 * worker past it is held before it fetches (graphile-worker's forbiddenFlags, which may be a promise), so no job waits
 * locked in memory for its turn.
 */
export class RetryLane {
  /** Workers let fetch a retry, running one or waiting in the local queue for one. */
  private admitted = 0;
  /** Workers held until the governor lets one more retry run, in arrival order. */
  private readonly held: Array<() => void> = [];
  private closed = false;
  private readonly governor: RetryGovernor;

  constructor(
    /** The most retries at once (the retry pool's size); how many may run now is the governor's (see RetryGovernor). */
    readonly max: number,
    governor?: RetryGovernor,
  ) {
    this.governor = governor ?? new RetryGovernor({ max });
  }

  /** How many retries may run at once now. */
  get limit(): number {
    return this.governor.limit;
  }

  get inFlight(): number {
    return this.admitted;
  }

  /** Workers held waiting for the governor (observability and tests). */
  get heldWorkers(): number {
    return this.held.length;
  }

  /** A first attempt's start transaction took `ms`: what the governor weighs retries' cost by. */
  observeFirstAttemptStart(ms: number): void {
    this.governor.observe(ms);
    this.admit();
  }

  /** The retry pool's forbiddenFlags: none to forbid, once the worker may take a retry. */
  readonly forbiddenFlags = (): null | Promise<null> => {
    if (this.closed || this.admitted < this.governor.limit) {
      this.admitted += 1;
      return null;
    }
    // A worker would take a retry if it could: the governor may let more run.
    this.governor.retryActivity(true);
    return new Promise<null>((resolve) =>
      this.held.push(() => {
        this.admitted += 1;
        resolve(null);
      }),
    );
  };

  /** A retry ended, or a worker let in found none: its place goes to a held worker. */
  leave(): void {
    this.admitted = Math.max(0, this.admitted - 1);
    this.governor.retryActivity(false);
    this.admit();
  }

  /** The retry pool's events: a fetch that found nothing frees its place; a stopping pool lets every held worker go. */
  attach(events: WorkerEvents): void {
    events.on('worker:getJob:empty', () => this.leave());
    events.on('worker:release', () => this.close());
    events.on('pool:gracefulShutdown', () => this.close());
    // A pool started after a failure (the supervisor's replacement) is governed again.
    events.on('pool:create', () => {
      this.closed = false;
    });
  }

  /** Stops holding workers (the pool is stopping): a held worker cannot end. */
  close(): void {
    this.closed = true;
    while (this.held.length > 0) this.held.shift()!();
  }

  private admit(): void {
    while (this.held.length > 0 && this.admitted < this.governor.limit) this.held.shift()!();
  }
}
