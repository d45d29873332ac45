import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, test } from 'vitest';
import { tuneJobQueueAutovacuum } from '../../src/db/autovacuum';
import {
  JOB_QUEUE_INTERNALS_VERSION,
  deleteJobsStillLockedBy,
  jobTableStorageParameters,
  jobPayloadDeliveryIds,
  poolsHoldingLocksQuery,
  renewJobLock,
  unlockTaskJobsHeldLongerThan,
  ensureJobTaskIndex,
} from '../../src/db/job-queue-internals';
import { execute } from '../../src/db/sql';
import { createEmptyDatabase, createTestDatabase } from '../helpers/database';

/** A migrated database and a pool on it, for the file. */
const it = test
  // eslint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern: none.
  .extend('database', { scope: 'file' }, async ({}, { onCleanup }) => {
    const database = await createTestDatabase();
    onCleanup(() => database.drop());
    return database;
  })
  .extend('pool', { scope: 'file' }, async ({ database }, { onCleanup }) => {
    const pool = new pg.Pool({ connectionString: database.url, max: 4 });
    onCleanup(() => pool.end());
    return pool;
  });

interface JobRow {
  id: string;
  locked_by: string | null;
  locked_at: Date | null;
}

/** Enqueues a job through graphile-worker's public function; returns its id. */
async function addJob(pool: pg.Pool, task: string, queue: string | null = null): Promise<string> {
  const { rows } = await pool.query<{ id: string }>('select id::text from graphile_worker.add_job($1, queue_name => $2)', [task, queue]);
  return rows[0]!.id;
}

/** Locks a job as a worker pool's get_job does (its attempt counted), `ago` (an interval) in the past. */
async function lockJob(pool: pg.Pool, id: string, poolId: string, ago = '0 seconds'): Promise<void> {
  await pool.query(
    `update graphile_worker._private_jobs set locked_by = $2, locked_at = now() - $3::interval, attempts = attempts + 1
      where id = $1`,
    [id, poolId, ago],
  );
}

async function jobRows(pool: pg.Pool, ids: string[]): Promise<JobRow[]> {
  const { rows } = await pool.query<JobRow>(
    `select j.id::text as id, j.locked_by, j.locked_at from graphile_worker._private_jobs j
      where j.id = any($1::bigint[]) order by j.id`,
    [ids],
  );
  return rows;
}

/**
 * src/db/job-queue-internals.ts against the installed graphile-worker, on real jobs: each statement on graphile-worker's
 * private tables does what Herald relies on, in the version the module was written for.
 */
describe('job-queue internals', () => {
  it('were written for the installed graphile-worker', async () => {
    const manifest = path.join(process.cwd(), 'node_modules/graphile-worker/package.json');
    const installed = (JSON.parse(await readFile(manifest, 'utf8')) as { version: string }).version;
    expect(
      installed,
      `graphile-worker ${installed} is installed; src/db/job-queue-internals.ts was written for ${JOB_QUEUE_INTERNALS_VERSION}: ` +
        `re-check each of its statements against node_modules/graphile-worker/sql/, then update JOB_QUEUE_INTERNALS_VERSION`,
    ).toBe(JOB_QUEUE_INTERNALS_VERSION);
  });

  it('deleteJobsStillLockedBy deletes a job only while the pool named with it holds its lock', async ({ pool }) => {
    const held = await addJob(pool, 'internals_park');
    const handedOn = await addJob(pool, 'internals_park');
    const unlocked = await addJob(pool, 'internals_park');
    await lockJob(pool, held, 'parking-pool');
    await lockJob(pool, handedOn, 'other-pool');

    await deleteJobsStillLockedBy(pool, [
      { id: held, lockedBy: 'parking-pool' },
      { id: handedOn, lockedBy: 'parking-pool' },
      { id: unlocked, lockedBy: 'parking-pool' },
    ]);

    const left = await jobRows(pool, [held, handedOn, unlocked]);
    expect(left.map((job) => [job.id, job.locked_by])).toEqual([
      [handedOn, 'other-pool'],
      [unlocked, null],
    ]);
  });

  it('poolsHoldingLocksQuery finds the pools holding a job or a queue lock taken longer ago than asked', async ({ pool }) => {
    await lockJob(pool, await addJob(pool, 'internals_locks'), 'locks-old-job-pool', '2 minutes');
    await lockJob(pool, await addJob(pool, 'internals_locks'), 'locks-new-job-pool');
    await addJob(pool, 'internals_locks', 'internals-old-queue');
    await addJob(pool, 'internals_locks', 'internals-new-queue');
    await pool.query(
      `update graphile_worker._private_job_queues set locked_by = 'locks-old-queue-pool', locked_at = now() - interval '2 minutes'
        where queue_name = 'internals-old-queue'`,
    );
    await pool.query(
      `update graphile_worker._private_job_queues set locked_by = 'locks-new-queue-pool', locked_at = now()
        where queue_name = 'internals-new-queue'`,
    );

    const holders = poolsHoldingLocksQuery('1 minute');
    const rows = await execute<{ pool_id: string }>(pool, holders.text, holders.params);
    const pools = rows.map((row) => row.pool_id).filter((id) => id.startsWith('locks-'));
    expect(pools.sort()).toEqual(['locks-old-job-pool', 'locks-old-queue-pool']);
  });

  it("unlockTaskJobsHeldLongerThan unlocks the tasks' jobs held past the time given, and no others", async ({ pool }) => {
    const overdue = await addJob(pool, 'internals_lease');
    const overdueOfSecond = await addJob(pool, 'internals_lease_2');
    const recent = await addJob(pool, 'internals_lease');
    const otherTask = await addJob(pool, 'internals_other');
    await lockJob(pool, overdue, 'lease-pool', '10 minutes');
    await lockJob(pool, overdueOfSecond, 'lease-pool', '10 minutes');
    await lockJob(pool, recent, 'lease-pool');
    await lockJob(pool, otherTask, 'lease-pool', '10 minutes');

    const unlocked = await unlockTaskJobsHeldLongerThan(pool, ['internals_lease', 'internals_lease_2'], '5 minutes');

    expect(unlocked.sort()).toEqual([overdue, overdueOfSecond].sort());
    const rows = await jobRows(pool, [overdue, overdueOfSecond, recent, otherTask]);
    expect(rows.map((job) => [job.locked_by, job.locked_at === null])).toEqual([
      [null, true],
      [null, true],
      ['lease-pool', false],
      ['lease-pool', false],
    ]);
  });

  it('renewJobLock renews a lock only while the pool named with it holds the job', async ({ pool }) => {
    const held = await addJob(pool, 'internals_renew');
    const handedOn = await addJob(pool, 'internals_renew');
    await lockJob(pool, held, 'renew-pool', '10 minutes');
    await lockJob(pool, handedOn, 'other-pool', '10 minutes');

    expect(await renewJobLock(pool, { id: held, lockedBy: 'renew-pool' })).toBe(true);
    expect(await renewJobLock(pool, { id: handedOn, lockedBy: 'renew-pool' })).toBe(false);

    const [renewed, untouched] = await jobRows(pool, [held, handedOn]);
    expect(Date.now() - renewed!.locked_at!.getTime()).toBeLessThan(60_000);
    expect(Date.now() - untouched!.locked_at!.getTime()).toBeGreaterThan(9 * 60_000);
  });

  it("jobPayloadDeliveryIds reads a job's deliveryIds from its payload, which the jobs view leaves out", async ({ pool }) => {
    const { rows: added } = await pool.query<{ id: string }>(
      `select id::text from graphile_worker.add_job('internals_batch', json_build_object('deliveryIds', array['dlv_a', 'dlv_b']))`,
    );
    const other = await addJob(pool, 'internals_batch');
    const { rows } = await pool.query<{ id: string; ids: unknown }>(
      `select j.id::text, ${jobPayloadDeliveryIds('j')} as ids from graphile_worker.jobs j where j.id = any($1::bigint[]) order by j.id`,
      [[added[0]!.id, other]],
    );
    expect(rows).toEqual([
      { id: added[0]!.id, ids: ['dlv_a', 'dlv_b'] },
      { id: other, ids: null },
    ]);
  });

  it("ensureJobTaskIndex: the migration made it, it is idempotent, and a fetch of one task's jobs reads them through it, not another task's due jobs", async ({
    pool,
  }) => {
    await ensureJobTaskIndex(pool);
    const { rows: indexes } = await pool.query<{ indexname: string }>(
      `select indexname from pg_indexes where schemaname = 'graphile_worker' and indexname = 'jobs_task_index'`,
    );
    expect(indexes).toHaveLength(1);

    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`select graphile_worker.add_job('internals_storm', json_build_object('n', n)) from generate_series(1, 2000) n`);
      await client.query(`select graphile_worker.add_job('internals_fresh', '{}')`);
      await client.query('analyze graphile_worker._private_jobs');
      const { rows: tasks } = await client.query<{ id: number }>(
        `select id from graphile_worker._private_tasks where identifier = 'internals_fresh'`,
      );
      // graphile-worker's fetch (getJobs.ts) with its task ids as a parameter, unnamed as the worker sends it
      // (preparedStatements: false), so planned for the ids given.
      const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
        `explain (analyze, format json)
         select jobs.id from graphile_worker._private_jobs as jobs
          where jobs.is_available = true and run_at <= now() and task_id = any($1::int[])
          order by priority asc, run_at asc limit 64 for update skip locked`,
        [[tasks[0]!.id]],
      );
      const plan = JSON.stringify(rows[0]!['QUERY PLAN']);
      expect(plan).toContain('"Index Name":"jobs_task_index"');
      expect(plan).not.toContain('"Rows Removed by Filter":2000');
      await client.query('rollback');
    } finally {
      client.release();
    }
  });

  it('tuneJobQueueAutovacuum gives the job table its autovacuum settings, and does nothing before the table exists', async ({ pool }) => {
    await pool.query(
      `alter table graphile_worker._private_jobs
         reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay)`,
    );
    expect(await jobTableStorageParameters(pool)).toEqual([]);

    await tuneJobQueueAutovacuum(pool);
    await tuneJobQueueAutovacuum(pool);

    expect((await jobTableStorageParameters(pool))?.sort()).toEqual([
      'autovacuum_vacuum_cost_delay=0',
      'autovacuum_vacuum_scale_factor=0',
      'autovacuum_vacuum_threshold=1000',
    ]);

    const empty = await createEmptyDatabase();
    const emptyPool = new pg.Pool({ connectionString: empty.url, max: 1 });
    try {
      expect(await jobTableStorageParameters(emptyPool)).toBeNull();
      await expect(tuneJobQueueAutovacuum(emptyPool)).resolves.toBeUndefined();
    } finally {
      await emptyPool.end();
      await empty.drop();
    }
  });
});
