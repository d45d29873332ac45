import { describe, expect } from 'vitest';
import { CreateApplicationDocument, PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { createLogger } from '../../src/lib/logger';
import { WorkerHeartbeat } from '../../src/worker/heartbeat';
import { query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';

/** Herald's API only (this test is the worker), with one application and an endpoint to make deliveries for. */
const it = heraldTestWith({ roles: { api: true, worker: false } }).extend('applicationId', { scope: 'file' }, async ({ herald }) => {
  const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'heartbeat' } });
  await herald.call(RegisterEndpointDocument, { input: { applicationId: createApplication.id, url: 'http://127.0.0.1:9/hook' } });
  return createApplication.id;
});

/**
 * The heartbeat's sweeps, on a real PostgreSQL with Herald's API only (this test is the worker): spent delivery jobs
 * are removed, and a released pool beats on while its tasks run, so what they hold is not handed to another worker.
 */
describe('WorkerHeartbeat', () => {
  /** `sweepAtOnce`: dead-after 0, so the first tick sweeps (it waits half the dead-after time of beating otherwise). */
  const heartbeat = (herald: TestHerald, sweepAtOnce = false) =>
    new WorkerHeartbeat({
      orm: herald.handle.database.orm,
      config: sweepAtOnce ? { ...herald.config, worker: { ...herald.config.worker, deadAfterMs: 0 } } : herald.config,
      logger: createLogger({ level: 'silent', pretty: false }),
    });

  async function deliveryWithJob(
    { herald, database, applicationId }: { herald: TestHerald; database: { url: string }; applicationId: string },
    n: number,
  ): Promise<{ deliveryId: string; jobId: string }> {
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type: 'heartbeat.test', data: { n } } });
    const [row] = await query<{ id: string; job_id: string }>(
      database.url,
      `select d.id, j.id::text as job_id from deliveries d join graphile_worker._private_jobs j on j.key = 'deliver:' || d.id
        where d.event_id = $1`,
      [publishEvent.id],
    );
    return { deliveryId: row!.id, jobId: row!.job_id };
  }

  it('removes spent delivery jobs (replaced or removed while their dead pool held them, or of finished deliveries), and keeps a failing one of an unfinished delivery', async ({
    herald,
    database,
    applicationId,
  }) => {
    const replaced = await deliveryWithJob({ herald, database, applicationId }, 1);
    const finished = await deliveryWithJob({ herald, database, applicationId }, 2);
    const failing = await deliveryWithJob({ herald, database, applicationId }, 3);
    // What graphile-worker leaves when a locked job's key is enqueued again or removed, then its pool dies and the
    // sweeper unlocks it: no key, attempts = max_attempts.
    await query(database.url, `update graphile_worker._private_jobs set key = null, attempts = max_attempts where id = $1`, [
      replaced.jobId,
    ]);
    await query(database.url, `update deliveries set status = 'SUCCEEDED' where id = $1`, [finished.deliveryId]);
    await query(database.url, `update graphile_worker._private_jobs set attempts = max_attempts where id = $1`, [finished.jobId]);
    await query(database.url, `update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'boom' where id = $1`, [
      failing.jobId,
    ]);

    await heartbeat(herald, true).tick();
    const left = await query<{ id: string }>(
      database.url,
      'select id::text from graphile_worker._private_jobs where id = any($1::bigint[])',
      [[replaced.jobId, finished.jobId, failing.jobId]],
    );
    expect(left.map((row) => row.id)).toEqual([failing.jobId]);
  });

  it('keeps a spent batch of first attempts while one of its deliveries is unfinished, and removes one whose deliveries are all finished', async ({
    herald,
    database,
    applicationId,
  }) => {
    const a = await deliveryWithJob({ herald, database, applicationId }, 11);
    const b = await deliveryWithJob({ herald, database, applicationId }, 12);
    const c = await deliveryWithJob({ herald, database, applicationId }, 13);
    const batch = async (deliveryIds: string[]) => {
      const [job] = await query<{ id: string }>(
        database.url,
        `select id::text from graphile_worker.add_job('deliver', json_build_object('deliveryIds', $1::text[], 'attempt', 1), max_attempts => 25)`,
        [deliveryIds],
      );
      // Its task failed every time, as the spent jobs above.
      await query(database.url, `update graphile_worker._private_jobs set attempts = max_attempts, last_error = 'boom' where id = $1`, [
        job!.id,
      ]);
      return job!.id;
    };
    await query(database.url, `update deliveries set status = 'SUCCEEDED' where id = any($1)`, [[a.deliveryId, b.deliveryId]]);
    const finished = await batch([a.deliveryId, b.deliveryId]);
    const unfinished = await batch([a.deliveryId, c.deliveryId]);

    await heartbeat(herald, true).tick();
    const left = await query<{ id: string }>(
      database.url,
      'select id::text from graphile_worker._private_jobs where id = any($1::bigint[])',
      [[finished, unfinished]],
    );
    expect(left.map((row) => row.id)).toEqual([unfinished]);
  });

  it('a released pool keeps beating until its last running task ends, then stops', async ({ herald, database }) => {
    const beat = heartbeat(herald);
    beat.addPool('released-pool');
    const ended = beat.taskStarted('released-pool');
    beat.removePool('released-pool');
    await beat.tick();
    const seen = () => query(database.url, `select 1 from worker_heartbeats where pool_id = 'released-pool'`);
    expect(await seen()).toHaveLength(1);
    await query(database.url, `delete from worker_heartbeats where pool_id = 'released-pool'`);
    ended();
    await beat.tick();
    expect(await seen()).toHaveLength(0);
  });
});
