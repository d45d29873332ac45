import { describe, expect } from 'vitest';
import { CreateApplicationDocument, PublishEventsDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { jobSpecsJson } from '../../src/db/sql';
import { deliverJob } from '../../src/queue/deliver-job';
import { jobCarries, query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import { type TestHerald, testConfig } from '../helpers/herald';
import { type ReceiverBehaviour, receiversOfSuite } from '../helpers/receiver';
import { waitUntil } from '../helpers/wait';

/**
 * A fan-out's first attempts ride in batch jobs (up to 16 deliveries each), run by a real worker: each delivery is
 * sent once, a batch run again sends nothing again, its deliveries park and wake one by one, a delivery that also has
 * its own job is not sent twice by one process, and WORKER_CONCURRENCY bounds the attempts a worker has in flight.
 * The worker makes 4 attempts at once; WORKER_DEAD_AFTER_MS is 1.5 s.
 */
const it = heraldTestWith((databaseUrl) => ({
  config: { worker: { ...testConfig(databaseUrl).worker, concurrency: 4, deadAfterMs: 1500, heartbeatIntervalMs: 200 } },
}));

describe('first attempts in batch jobs', () => {
  const receiver = receiversOfSuite();

  async function setUp(herald: TestHerald, behaviour: ReceiverBehaviour, maxConcurrency?: number) {
    const webhooks = await receiver(behaviour);
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'batches' } });
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId: createApplication.id, url: webhooks.url, maxConcurrency },
    });
    return { webhooks, applicationId: createApplication.id, endpointId: registerEndpoint.endpoint.id };
  }

  async function publish(herald: TestHerald, applicationId: string, count: number, deliverAt?: Date) {
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: Array.from({ length: count }, (_, n) => ({
        applicationId,
        type: 'batch.test',
        data: { n },
        ...(deliverAt ? { deliverAt: deliverAt.toISOString() } : {}),
      })),
    });
    return publishEvents.map((event) => event.id);
  }

  /** The jobs carrying an application's deliveries, with what they carry. */
  function jobsOf(url: string, applicationId: string) {
    return query<{ id: string; key: string | null; ids: string[] | null }>(
      url,
      `select j.id::text, j.key, array(select json_array_elements_text(j.payload -> 'deliveryIds')) as ids
         from graphile_worker._private_jobs j
        where exists (select 1 from deliveries d where d.application_id = $1 and ${jobCarries('j', 'd')})
        order by j.id`,
      [applicationId],
    );
  }

  /** Every delivery of the application is finished and no job carries one any more: nothing more will be sent. */
  async function settled(url: string, applicationId: string) {
    await waitUntil(
      () =>
        query<{ open: number; jobs: number }>(
          url,
          `select (select count(*)::int from open_deliveries where application_id = $1) as open,
                  (select count(*)::int from graphile_worker._private_jobs j
                    where exists (select 1 from deliveries d where d.application_id = $1 and ${jobCarries('j', 'd')})) as jobs`,
          [applicationId],
        ),
      (rows) => rows[0]!.open === 0 && rows[0]!.jobs === 0,
      30_000,
    );
  }

  /** How many requests each event's delivery got. */
  function sendsPerEvent(requests: { headers: Record<string, unknown> }[]) {
    const counts = new Map<string, number>();
    for (const request of requests) {
      const id = String(request.headers['webhook-id']);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }

  it('writes 40 first attempts as three jobs, sends each once, and a batch run again sends nothing again', async ({ herald, database }) => {
    const { webhooks, applicationId } = await setUp(herald, () => ({ status: 200 }));
    // Published for later, so the jobs can be counted before a worker takes them.
    const eventIds = await publish(herald, applicationId, 40, new Date(Date.now() + 3_600_000));
    const jobs = await jobsOf(database.url, applicationId);
    expect(jobs.map((job) => [job.key, job.ids?.length])).toEqual([
      [null, 16],
      [null, 16],
      [null, 8],
    ]);
    await query(database.url, 'update graphile_worker._private_jobs set run_at = now() where id = any($1::bigint[])', [
      jobs.map((job) => job.id),
    ]);
    await webhooks.waitForRequests(40);
    await settled(database.url, applicationId);
    const sends = sendsPerEvent(webhooks.requests);
    expect([sends.size, Math.max(...sends.values())]).toEqual([40, 1]);
    expect(new Set(webhooks.requests.map((request) => JSON.parse(request.body).id))).toEqual(new Set(eventIds));

    // As after a crash before its completion was written: the same batch runs again and finds every attempt made.
    const [again] = await query<{ id: string }>(
      database.url,
      `select id::text from graphile_worker.add_job('deliver', json_build_object('deliveryIds', $1::text[], 'attempt', 1))`,
      [jobs[0]!.ids],
    );
    await waitUntil(
      () => query(database.url, 'select 1 from graphile_worker._private_jobs where id = $1', [again!.id]),
      (rows) => rows.length === 0,
    );
    expect(webhooks.requests).toHaveLength(40);
  });

  it("parks a batch's deliveries its endpoint has no slot for, and wakes each into a freed slot", async ({ herald, database }) => {
    const { webhooks, applicationId } = await setUp(herald, () => ({ status: 200, delayMs: 100 }), 1);
    await publish(herald, applicationId, 6);
    await webhooks.waitForRequests(6);
    await settled(database.url, applicationId);
    expect(webhooks.requests).toHaveLength(6);
    expect(webhooks.maxInFlight).toBe(1);
    expect(await query(database.url, 'select 1 from parked_deliveries')).toEqual([]);
  });

  it('sends a delivery once when its own job and its batch run at the same time in one worker', async ({ herald, database }) => {
    const { webhooks, applicationId } = await setUp(herald, () => ({ status: 200, delayMs: 300 }));
    const later = new Date(Date.now() + 3_600_000);
    await publish(herald, applicationId, 3, later);
    const deliveries = await query<{ id: string }>(database.url, 'select id from deliveries where application_id = $1', [applicationId]);
    // Each delivery's own job too, as a wake-up or a FIFO group's advance would add it.
    await query(
      database.url,
      `select graphile_worker.add_jobs(array(select spec from json_populate_recordset(null::graphile_worker.job_spec, $1::json) as spec))`,
      [jobSpecsJson(deliveries.map((delivery) => deliverJob(delivery.id, 1, later)))],
    );
    const jobs = await jobsOf(database.url, applicationId);
    expect(jobs.map((job) => (job.key === null ? job.ids!.length : 'its own'))).toEqual([3, 'its own', 'its own', 'its own']);
    await query(database.url, 'update graphile_worker._private_jobs set run_at = now() where id = any($1::bigint[])', [
      jobs.map((job) => job.id),
    ]);
    await webhooks.waitForRequests(3);
    await settled(database.url, applicationId);
    expect([...sendsPerEvent(webhooks.requests).values()]).toEqual([1, 1, 1]);
  });

  it("makes at most WORKER_CONCURRENCY attempts at once; attempts waiting for a slot renew their job's lock", async ({
    herald,
    database,
  }) => {
    const { webhooks, applicationId } = await setUp(herald, () => ({ status: 200, delayMs: 2500 }));
    await publish(herald, applicationId, 6);
    // Four attempts take the worker's four slots for 2.5 s; the other two wait past WORKER_DEAD_AFTER_MS (1.5 s).
    const [held] = await waitUntil(
      () =>
        query<{ id: string; locked_by: string; locked_at: Date }>(
          database.url,
          `select j.id::text, j.locked_by, j.locked_at from graphile_worker._private_jobs j
            where j.locked_by is not null
              and exists (select 1 from deliveries d where d.application_id = $1 and ${jobCarries('j', 'd')})`,
          [applicationId],
        ),
      (rows) => rows.length === 1,
    );
    await waitUntil(
      () =>
        query<{ locked_by: string; locked_at: Date }>(
          database.url,
          'select locked_by, locked_at from graphile_worker._private_jobs where id = $1',
          [held!.id],
        ),
      (rows) => rows.length === 1 && rows[0]!.locked_by === held!.locked_by && rows[0]!.locked_at > held!.locked_at,
    );
    await webhooks.waitForRequests(6, 30_000);
    await settled(database.url, applicationId);
    expect(webhooks.requests).toHaveLength(6);
    expect(webhooks.maxInFlight).toBe(4);
  });
});
