import os from 'node:os';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../config';
import { execute } from '../db/sql';
import type { Logger } from '../lib/logger';
import { wakeAllParked } from '../modules/deliveries/endpoint-gate';

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
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(private readonly deps: { orm: MikroORM; config: HeraldConfig; logger: Logger }) {}

  addPool(poolId: string): void {
    this.poolIds.add(poolId);
  }

  /** A released pool stops beating: what it still holds is swept like a dead worker's. */
  removePool(poolId: string): void {
    this.poolIds.delete(poolId);
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
    await execute(this.deps.orm.em.fork(), 'delete from worker_heartbeats where pool_id = any(?::text[])', [
      toArray([...this.poolIds]),
    ]).catch((error: unknown) => this.deps.logger.warn({ err: error }, 'could not remove the worker heartbeat'));
  }

  async tick(): Promise<void> {
    try {
      await this.beat();
      await this.sweep();
    } catch (error) {
      // The database may be restarting: the next tick tries again.
      this.deps.logger.warn({ err: error }, 'worker heartbeat failed; retrying on the next tick');
    }
  }

  private async beat(): Promise<void> {
    if (this.poolIds.size === 0) return;
    await execute(
      this.deps.orm.em.fork(),
      `insert into worker_heartbeats (pool_id, host, pid, started_at, last_seen_at)
       select id, ?, ?, now(), now() from unnest(?::text[]) as id
       on conflict (pool_id) do update set last_seen_at = now()`,
      [os.hostname(), process.pid, toArray([...this.poolIds])],
    );
  }

  private async sweep(): Promise<void> {
    const em = this.deps.orm.em.fork();
    const deadAfter = `${this.deps.config.worker.deadAfterMs} milliseconds`;
    const lease = `${this.deps.config.delivery.timeoutMs * 2 + this.deps.config.worker.deadAfterMs} milliseconds`;
    const dead = await execute<{ pool_id: string }>(
      em,
      `with live as (select pool_id from worker_heartbeats where last_seen_at >= now() - ?::interval)
       select locked_by as pool_id from graphile_worker._private_jobs
        where locked_by is not null and locked_at < now() - ?::interval and locked_by not in (select pool_id from live)
       union
       select locked_by from graphile_worker._private_job_queues
        where locked_by is not null and locked_at < now() - ?::interval and locked_by not in (select pool_id from live)
       union
       select pool_id from endpoint_inflight
        where started_at < now() - ?::interval and pool_id not in (select pool_id from live)
       union
       select pool_id from worker_heartbeats where last_seen_at < now() - ?::interval`,
      [deadAfter, deadAfter, deadAfter, deadAfter, deadAfter],
    );
    const deadIds = dead.map((row) => row.pool_id);
    if (deadIds.length > 0) {
      await em.transactional(async (tx) => {
        await execute(tx, 'select graphile_worker.force_unlock_workers(?::text[])', [toArray(deadIds)]);
        await execute(tx, 'delete from endpoint_inflight where pool_id = any(?::text[])', [toArray(deadIds)]);
        await execute(tx, 'delete from worker_heartbeats where pool_id = any(?::text[])', [toArray(deadIds)]);
      });
      this.deps.logger.warn({ pools: deadIds }, 'unlocked the jobs of dead workers; their deliveries will be attempted again');
    }
    const stuck = await execute<{ id: string }>(
      em,
      `update graphile_worker._private_jobs set locked_at = null, locked_by = null
       where locked_at < now() - ?::interval
         and task_id = (select id from graphile_worker._private_tasks where identifier = 'deliver')
       returning id`,
      [lease],
    );
    if (stuck.length > 0) this.deps.logger.warn({ jobs: stuck.length }, 'unlocked delivery jobs held past their lease');
    const woken = await wakeAllParked(em, this.deps.config.delivery.endpointConcurrency);
    if (woken > 0) this.deps.logger.debug({ woken }, 'woke parked deliveries');
  }
}

/** knex expands a JS array binding into a list; pass PostgreSQL array text instead. */
function toArray(values: string[]): string {
  return `{${values.map((value) => `"${value.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}
