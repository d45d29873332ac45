import type pg from 'pg';
import { type Sql, type SqlFragment, execute } from './sql';

/**
 * Every statement Herald runs against graphile-worker's private tables (`_private_jobs`, `_private_job_queues`,
 * `_private_tasks`), which graphile-worker may change in any release: what its public SQL functions and its `jobs`
 * view cannot do (delete or unlock a locked job, read queue locks, tune the job table). Written for the version below;
 * test/integration/job-queue-internals.test.ts fails when another one is installed, and runs each statement. The one
 * other statement is in SQL: `herald.fan_out_events` inserts its first attempts' jobs (migration
 * Migration20261208200000_fan_out_inserts_jobs; test/integration/fan-out.test.ts holds them to the rows `add_jobs` writes).
 */
export const JOB_QUEUE_INTERNALS_VERSION = '0.17.3';

/** Deletes each job only while the pool named with it still holds its lock (one another worker holds is that worker's). */
export async function deleteJobsStillLockedBy(sql: Sql, jobs: { id: string; lockedBy: string }[]): Promise<void> {
  if (jobs.length === 0) return;
  await execute(
    sql,
    `delete from graphile_worker._private_jobs j
     using json_to_recordset(?::json) as v(id bigint, pool text)
     where j.id = v.id and j.locked_by = v.pool`,
    [JSON.stringify(jobs.map((job) => ({ id: job.id, pool: job.lockedBy })))],
  );
}

/**
 * Renews the lock of a job its pool still holds (locked_at = now), so that a job whose task is still working is not
 * taken for one held past its lease. Returns whether the pool still held it.
 */
export async function renewJobLock(sql: Sql, job: { id: string; lockedBy: string }): Promise<boolean> {
  const renewed = await execute(
    sql,
    'update graphile_worker._private_jobs set locked_at = now() where id = ? and locked_by = ? returning 1',
    [job.id, job.lockedBy],
  );
  return renewed.length > 0;
}

/**
 * The JSON array of delivery ids a job of `jobs` (the view, whose row is `alias`) carries as `deliveryIds`, or null:
 * the view leaves the payload out. An SQL expression to compose into a larger statement.
 */
export function jobPayloadDeliveryIds(alias: string): string {
  return `(select p.payload->'deliveryIds' from graphile_worker._private_jobs p where p.id = ${alias}.id)`;
}

/**
 * The pools (column `pool_id`) holding a job or queue lock taken longer than `heldFor` (an interval, '30000
 * milliseconds') ago: a query to compose into a larger statement, so that the caller's check of which pools are
 * alive costs no extra round trip.
 */
export function poolsHoldingLocksQuery(heldFor: string): SqlFragment {
  return {
    text: `select locked_by as pool_id from graphile_worker._private_jobs
            where locked_by is not null and locked_at < now() - ?::interval
           union
           select locked_by from graphile_worker._private_job_queues
            where locked_by is not null and locked_at < now() - ?::interval`,
    params: [heldFor, heldFor],
  };
}

/** Unlocks these tasks' jobs locked longer than `heldFor` (an interval) ago, whoever holds them; returns their ids. */
export async function unlockTaskJobsHeldLongerThan(sql: Sql, taskIdentifiers: string[], heldFor: string): Promise<string[]> {
  const unlocked = await execute<{ id: string }>(
    sql,
    `update graphile_worker._private_jobs set locked_at = null, locked_by = null
     where locked_at < now() - ?::interval
       and task_id in (select id from graphile_worker._private_tasks where identifier = any(array(select json_array_elements_text(?::json))))
     returning id::text`,
    [heldFor, JSON.stringify(taskIdentifiers)],
  );
  return unlocked.map((row) => row.id);
}

/**
 * The index a pool's fetch uses to read only its own tasks' due jobs (graphile-worker's own indexes order all tasks
 * together): with it, a first-attempt pool's fetch does not read the retries due beside its jobs, nor the reverse.
 * Idempotent.
 */
export async function ensureJobTaskIndex(db: pg.Pool | pg.PoolClient): Promise<void> {
  await db.query(
    `create index if not exists jobs_task_index on graphile_worker._private_jobs (task_id, priority, run_at) where is_available = true`,
  );
}

/** The job table's storage parameters (`name=value`), or null before graphile-worker's migrations created it. */
export async function jobTableStorageParameters(db: pg.Pool | pg.PoolClient): Promise<string[] | null> {
  const { rows } = await db.query<{ reloptions: string[] | null }>(
    `select reloptions from pg_class where oid = to_regclass('graphile_worker._private_jobs')`,
  );
  return rows.length === 0 ? null : (rows[0]!.reloptions ?? []);
}

/** Sets storage parameters on the job table; `parameters` is SQL text (`name = value, ...`), from constants only. */
export async function setJobTableStorageParameters(db: pg.Pool | pg.PoolClient, parameters: string): Promise<void> {
  await db.query(`alter table graphile_worker._private_jobs set (${parameters})`);
}
