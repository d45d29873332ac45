import type { WorkerPool } from 'graphile-worker';

/**
 * graphile-worker finds a job scheduled for later only on its next poll (up to WORKER_POLL_INTERVAL_MS
 * late). A task that reschedules itself for a known moment (a rate-limit slot, the next replay batch)
 * asks for a nudge then: one timer per 10 ms bucket wakes as many idle workers as jobs fell due, in each of the
 * process's pools (the job may be a first attempt's or a retry's). If this process dies first, the poll still finds it.
 */
export class JobWaker {
  private readonly pools = new Set<WorkerPool>();
  private readonly buckets = new Map<number, { timer: NodeJS.Timeout; count: number }>();

  attach(pool: WorkerPool): void {
    this.pools.add(pool);
  }

  detach(pool: WorkerPool): void {
    this.pools.delete(pool);
  }

  wakeIn(ms: number): void {
    const due = Math.ceil((Date.now() + Math.max(0, ms) + 1) / 10) * 10;
    const bucket = this.buckets.get(due);
    if (bucket) {
      bucket.count += 1;
      return;
    }
    const timer = setTimeout(() => {
      const fired = this.buckets.get(due);
      this.buckets.delete(due);
      if (!fired) return;
      for (const pool of this.pools) {
        try {
          pool.nudge(fired.count);
        } catch {
          // The pool is shutting down: nothing to wake.
        }
      }
    }, due - Date.now());
    timer.unref();
    this.buckets.set(due, { timer, count: 1 });
  }

  stop(): void {
    for (const { timer } of this.buckets.values()) clearTimeout(timer);
    this.buckets.clear();
    this.pools.clear();
  }
}
