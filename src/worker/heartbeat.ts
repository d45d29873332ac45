import os from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../config';
import { type Clock, systemClock } from '../lib/clock';
import { execute } from '../db/sql';
import { jobPayloadDeliveryIds, poolsHoldingLocksQuery, unlockTaskJobsHeldLongerThan } from '../db/job-queue-internals';
import { DELIVER_JOB_KEY_PREFIX, DELIVER_TASKS } from '../queue/deliver-job';
import type { Logger } from '../lib/logger';
import { wakeAllParked } from '../engine/endpoint-gate';

/**
 * Crash recovery. graphile-worker only unlocks a job whose worker died after 4 hours; Herald does it
 * within `deadAfterMs`. Each worker process writes a heartbeat row per worker pool every
 * `heartbeatIntervalMs` and, on the same tick, sweeps up after pools that stopped beating: their jobs
 * and queues are unlocked (graphile_worker.force_unlock_workers), their endpoint slots freed, and parked
 * deliveries woken. A job locked by a live pool for longer than any attempt can take (two timeouts plus
 * `deadAfterMs`: its completion was lost, for example to a database restart) is unlocked too; the
 * executor's attempt-count guard makes a second run of an attempt that was recorded do nothing.
 */
export class WorkerHeartbeat {
  private readonly poolIds = new Set<string>();
  /** Tasks still running per pool, and pools released while some were (they beat until the last one ends). */
  private readonly runningTasks = new Map<string, number>();
  private readonly retiring = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private lastCleanup = 0;
  /** Since when this process's beats have succeeded without a failure in between. */
  private beatingSince: number | null = null;
  private ticking: Promise<void> | null = null;

  private readonly clock: Clock;

  constructor(private readonly deps: { orm: MikroORM; config: HeraldConfig; logger: Logger; clock?: Clock }) {
    this.clock = deps.clock ?? systemClock;
  }

  addPool(poolId: string): void {
    this.poolIds.add(poolId);
  }

  /**
   * A released pool stops beating, so what it still holds is swept like a dead worker's; but not before its last
   * running task ends: an attempt still in flight there must not be handed to another worker and sent twice.
   */
  removePool(poolId: string): void {
    if ((this.runningTasks.get(poolId) ?? 0) > 0) this.retiring.add(poolId);
    else this.poolIds.delete(poolId);
  }

  /** A task of the pool started; call the function returned when it ends. */
  taskStarted(poolId: string): () => void {
    this.runningTasks.set(poolId, (this.runningTasks.get(poolId) ?? 0) + 1);
    return () => {
      const left = (this.runningTasks.get(poolId) ?? 1) - 1;
      if (left > 0) {
        this.runningTasks.set(poolId, left);
        return;
      }
      this.runningTasks.delete(poolId);
      if (this.retiring.delete(poolId)) this.poolIds.delete(poolId);
    };
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!this.ticking) this.ticking = this.tick().finally(() => (this.ticking = null));
    }, this.deps.config.worker.heartbeatIntervalMs);
    this.timer.unref();
    this.ticking = this.tick().finally(() => (this.ticking = null));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    if (this.poolIds.size === 0) return;
    await execute(this.deps.orm.em.fork(), 'delete from worker_heartbeats where pool_id in (select json_array_elements_text(?::json))', [
      JSON.stringify([...this.poolIds]),
    ]).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not remove the worker heartbeat'));
  }

  async tick(): Promise<void> {
    try {
      await this.beat();
      this.beatingSince ??= this.clock.now().getTime();
      // After an outage every pool's last beat is old: the others get half the dead-after time to beat again before
      // this one judges them (else a live worker's attempts in flight would be handed on and sent twice).
      if (this.clock.now().getTime() - this.beatingSince >= this.deps.config.worker.deadAfterMs / 2) await this.sweep();
    } catch (error) {
      this.beatingSince = null;
      // The database may be restarting: the next tick tries again.
      this.deps.logger.warn({ err: error }, 'worker heartbeat failed; retrying on the next tick');
    }
  }

  private async beat(): Promise<void> {
    if (this.poolIds.size === 0) return;
    await execute(
      this.deps.orm.em.fork(),
      `insert into worker_heartbeats (pool_id, host, pid, started_at, last_seen_at)
       select id, ?, ?, now(), now() from json_array_elements_text(?::json) as id
       on conflict (pool_id) do update set last_seen_at = now()`,
      [os.hostname(), process.pid, JSON.stringify([...this.poolIds])],
    );
  }

  private async sweep(): Promise<void> {
    const em = this.deps.orm.em.fork();
    const deadAfter = `${this.deps.config.worker.deadAfterMs} milliseconds`;
    const lease = `${this.deps.config.delivery.timeoutMs * 2 + this.deps.config.worker.deadAfterMs} milliseconds`;
    const jobLocks = poolsHoldingLocksQuery(deadAfter);
    const dead = await execute<{ pool_id: string }>(
      em,
      `with live as (select pool_id from worker_heartbeats where last_seen_at >= now() - ?::interval)
       select pool_id from (${jobLocks.text}) as job_locks where pool_id not in (select pool_id from live)
       union
       select pool_id from endpoint_inflight
        where started_at < now() - ?::interval and pool_id not in (select pool_id from live)
       union
       select pool_id from worker_heartbeats where last_seen_at < now() - ?::interval`,
      [deadAfter, ...jobLocks.params, deadAfter, deadAfter],
    );
    const deadIds = dead.map((row) => row.pool_id);
    if (deadIds.length > 0) {
      await em.transactional(async (tx) => {
        const ids = JSON.stringify(deadIds);
        await execute(tx, 'select graphile_worker.force_unlock_workers(array(select json_array_elements_text(?::json)))', [ids]);
        await execute(tx, 'delete from endpoint_inflight where pool_id in (select json_array_elements_text(?::json))', [ids]);
        await execute(tx, 'delete from worker_heartbeats where pool_id in (select json_array_elements_text(?::json))', [ids]);
      });
      this.deps.logger.warn({ pools: deadIds }, 'unlocked the jobs of dead workers; their deliveries will be attempted again');
    }
    const stuck = await unlockTaskJobsHeldLongerThan(em, DELIVER_TASKS, lease);
    if (stuck.length > 0) this.deps.logger.warn({ jobs: stuck.length }, 'unlocked delivery jobs held past their lease');
    const woken = await wakeAllParked(em, this.deps.config.delivery.endpointConcurrency);
    if (woken > 0) this.deps.logger.debug({ woken }, 'woke parked deliveries');
    const now = this.clock.now().getTime();
    if (now - this.lastCleanup >= this.deps.config.worker.deadAfterMs) {
      this.lastCleanup = now;
      await this.removeSpentJobs(em);
    }
  }

  /**
   * graphile-worker marks a locked job that a newer one replaced (the same key enqueued again) or that was removed
   * as spent (attempts = max_attempts, no key) and deletes it when it completes; when its pool dies first, the
   * unlocked job is never run or deleted. Such deliver jobs are deleted, and so is a spent job of a delivery that is
   * finished or gone. A spent job of an unfinished delivery (its task failed every time) is kept, with its last error,
   * and so is a spent batch of first attempts (no key) while any of its deliveries is unfinished.
   */
  private async removeSpentJobs(em: Parameters<typeof execute>[0]): Promise<void> {
    // complete_jobs deletes only unlocked jobs, and graphile-worker never locks a spent one again. A deliver job's key is
    // the prefix and its delivery's id.
    const batch = jobPayloadDeliveryIds('j');
    const [spent] = await execute<{ removed: number }>(
      em,
      `select count(*)::int as removed from graphile_worker.complete_jobs(array(
         select j.id from graphile_worker.jobs j
          where j.task_identifier = any(array(select json_array_elements_text(?::json))) and j.locked_at is null and j.attempts >= j.max_attempts
            and case when ${batch} is not null
                     then not exists (select 1 from deliveries d
                                       where d.id = any(array(select json_array_elements_text(${batch})))
                                         and d.status in ('PENDING', 'FAILED'))
                     else j.key is null or not exists (
                            select 1 from deliveries d where d.id = substr(j.key, length(?) + 1) and d.status in ('PENDING', 'FAILED'))
                end))`,
      [JSON.stringify(DELIVER_TASKS), DELIVER_JOB_KEY_PREFIX],
    );
    if (spent && spent.removed > 0) this.deps.logger.info({ jobs: spent.removed }, 'removed spent delivery jobs');
  }
}
