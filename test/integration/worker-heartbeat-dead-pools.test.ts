import { describe, expect } from 'vitest';
import { CreateApplicationDocument, PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { createLogger } from '../../src/lib/logger';
import { WorkerHeartbeat } from '../../src/worker/heartbeat';
import { query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';

/** Herald's API only: this test is the worker, and locks jobs by hand as the pools it pretends to be would. */
const it = heraldTestWith({ roles: { api: true, worker: false } });

const DEAD_AFTER_MS = 30_000;

/**
 * The heartbeat's sweep, on a real PostgreSQL: the pools that stopped beating lose their job and queue locks, their
 * endpoint slots and their heartbeat rows; a live pool keeps what it holds, but for a delivery job held past its lease.
 */
describe('WorkerHeartbeat: dead pools', () => {
  it('unlocks what dead pools hold and frees their slots, and takes back only an overdue delivery job from a live pool', async ({
    herald,
    database,
  }) => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'dead-pools' } });
    await herald.call(RegisterEndpointDocument, { input: { applicationId: createApplication.id, url: 'http://127.0.0.1:9/hook' } });
    const deliveryJob = async () => {
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { applicationId: createApplication.id, type: 'dead.pools', data: {} },
      });
      const [row] = await query<{ delivery_id: string; endpoint_id: string; job_id: string }>(
        database.url,
        `select d.id as delivery_id, d.endpoint_id, j.id::text as job_id
           from deliveries d join graphile_worker._private_jobs j on j.key = 'deliver:' || d.id where d.event_id = $1`,
        [publishEvent.id],
      );
      return row!;
    };
    const lock = (jobId: string, poolId: string, ago: string) =>
      query(database.url, `update graphile_worker._private_jobs set locked_by = $2, locked_at = now() - $3::interval where id = $1`, [
        jobId,
        poolId,
        ago,
      ]);

    const otherTaskJob = async (poolId: string, ago: string) => {
      const [job] = await query<{ id: string }>(database.url, `select id::text from graphile_worker.add_job('dead_pools_other')`);
      await lock(job!.id, poolId, ago);
      return job!.id;
    };

    // Only the dead-pool sweep unlocks a job of another task: the lease is for delivery jobs.
    const deadPoolsJob = await otherTaskJob('dead-pool', '1 minute');
    const livePoolsJob = await otherTaskJob('live-pool', '1 hour');
    const overdue = await deliveryJob();
    await lock(overdue.job_id, 'live-pool', '1 hour');
    // Retries (the retry lane's task) a dead pool held, a live pool holds, and a live pool holds past their lease.
    const retryJob = async (poolId: string, ago: string) => {
      const job = await deliveryJob();
      const [retry] = await query<{ id: string }>(
        database.url,
        `select id::text from graphile_worker.add_job('deliver_retry', json_build_object('deliveryId', $1::text, 'attempt', 2),
           job_key := 'deliver:' || $1)`,
        [job.delivery_id],
      );
      await lock(retry!.id, poolId, ago);
      return retry!.id;
    };
    const deadPoolsRetry = await retryJob('dead-pool', '1 minute');
    // Within its lease: the live pool keeps it as it is.
    const livePoolsRetry = await retryJob('live-pool', '0 seconds');
    const overdueRetry = await retryJob('live-pool', '1 hour');
    await query(database.url, `select graphile_worker.add_job('dead_pools_other', queue_name => 'dead-pools-queue')`);
    await query(
      database.url,
      `update graphile_worker._private_job_queues set locked_by = 'dead-queue-pool', locked_at = now() - interval '1 minute'
        where queue_name = 'dead-pools-queue'`,
    );
    await query(
      database.url,
      `insert into endpoint_inflight (delivery_id, endpoint_id, pool_id, started_at) values ($1, $2, 'dead-slot-pool', now() - interval '1 minute')`,
      [overdue.delivery_id, overdue.endpoint_id],
    );
    await query(
      database.url,
      `insert into worker_heartbeats (pool_id, host, pid, last_seen_at)
       values ('live-pool', 'test', 1, now()), ('dead-pool', 'test', 1, now() - interval '1 minute')`,
    );

    let now = Date.now();
    const heartbeat = new WorkerHeartbeat({
      orm: herald.handle.database.orm,
      config: { ...herald.config, worker: { ...herald.config.worker, deadAfterMs: DEAD_AFTER_MS } },
      logger: createLogger({ level: 'silent', pretty: false }),
      clock: { now: () => new Date(now) },
    });
    // The first tick only starts the beating; a sweep waits for half the dead-after time of it.
    await heartbeat.tick();
    now += DEAD_AFTER_MS / 2;
    await heartbeat.tick();

    const jobs = await query<{ id: string; locked_by: string | null }>(
      database.url,
      'select j.id::text as id, j.locked_by from graphile_worker._private_jobs j where j.id = any($1::bigint[]) order by j.id',
      [[deadPoolsJob, livePoolsJob, overdue.job_id]],
    );
    expect(jobs).toEqual([
      { id: deadPoolsJob, locked_by: null },
      { id: livePoolsJob, locked_by: 'live-pool' },
      { id: overdue.job_id, locked_by: null },
    ]);
    expect(
      await query(
        database.url,
        'select j.id::text as id, j.locked_by from graphile_worker._private_jobs j where j.id = any($1::bigint[]) order by j.id',
        [[deadPoolsRetry, livePoolsRetry, overdueRetry]],
      ),
    ).toEqual([
      { id: deadPoolsRetry, locked_by: null },
      { id: livePoolsRetry, locked_by: 'live-pool' },
      { id: overdueRetry, locked_by: null },
    ]);
    expect(
      await query(database.url, `select locked_by from graphile_worker._private_job_queues where queue_name = 'dead-pools-queue'`),
    ).toEqual([{ locked_by: null }]);
    expect(await query(database.url, `select pool_id from endpoint_inflight`)).toEqual([]);
    expect(await query(database.url, 'select pool_id from worker_heartbeats order by pool_id')).toEqual([{ pool_id: 'live-pool' }]);
  });

  it('keeps the endpoint slots in an UNLOGGED table: leases of running attempts write no WAL', async ({ database }) => {
    expect(await query(database.url, `select relpersistence from pg_class where oid = 'endpoint_inflight'::regclass`)).toEqual([
      { relpersistence: 'u' },
    ]);
  });
});
