import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeleteEndpointDocument,
  PublishEventDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { type AttemptRecord, DeliveryStore, type DeliveryWork } from '../../src/engine/delivery-store';
import { DeliveryStatus } from '../../src/queue/delivery-status';
import { admitInTransaction, releaseMany } from '../../src/engine/endpoint-gate';
import { inTransaction } from '../../src/db/sql';
import { heraldTestWith } from '../helpers/fixtures';
import { GENERIC_PLANS, query, tableCounters } from '../helpers/database';
import { waitUntil } from '../helpers/wait';
import type { TestHerald } from '../helpers/herald';

const heraldFile = heraldTestWith({ roles: { api: true, worker: false } });

/**
 * The delivery store's record batches: each attempt, its delivery and its metrics are written once, and an attempt
 * another worker had already recorded changes nothing, even in a batch with others. Its start batches end the jobs
 * of the deliveries they park. Herald runs its API only
 * here: the test is the worker.
 */
describe('DeliveryStore: recording attempts', () => {
  let database: { url: string };
  let herald: TestHerald;
  let pool: pg.Pool;
  let store: DeliveryStore;
  let applicationId: string;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    pool = new pg.Pool({ connectionString: database.url, max: 4 });
    store = new DeliveryStore(pool, herald.config);
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'store' } });
    applicationId = createApplication.id;
    // Never called: the test records the attempts itself.
    await herald.call(RegisterEndpointDocument, { input: { applicationId, url: 'http://127.0.0.1:9/hook', eventTypes: ['*'] } });
  });
  afterAll(async () => {
    await pool?.end();
  });

  /** Publishes one event and admits its delivery's first attempt, as a worker's job does. */
  async function admittedDelivery(): Promise<DeliveryWork> {
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type: 'store.recorded', data: { n: 1 } } });
    const [row] = await query<{ id: string }>(database.url, 'select id from deliveries where event_id = $1', [publishEvent.id]);
    const start = await store.start({ deliveryId: row!.id, attempt: 1, poolId: 'test-pool' }, () => new Date());
    if (start.kind !== 'admitted') throw new Error(`expected an admission, got ${start.kind}`);
    return start.work;
  }

  function success(work: DeliveryWork): AttemptRecord {
    const now = new Date();
    return {
      work,
      attempt: 1,
      status: DeliveryStatus.SUCCEEDED,
      attemptedAt: now,
      now,
      nextAttemptAt: null,
      lastError: null,
      redactedHeaders: { 'content-type': 'application/json' },
      outcome: {
        ok: true,
        statusCode: 200,
        responseBody: 'ok',
        responseBodyTruncated: false,
        durationMs: 12,
        errorKind: null,
        errorMessage: null,
      },
      verdict: { kind: 'succeeded' },
    };
  }

  async function counts(deliveryIds: string[]) {
    const [row] = await query<{ attempts: number; inflight: number; delivered: number; succeeded: number }>(
      database.url,
      `select (select count(*)::int from delivery_attempts where delivery_id = any($1)) as attempts,
              (select count(*)::int from endpoint_inflight where delivery_id = any($1)) as inflight,
              (select coalesce(sum(delivered), 0)::int from delivery_metrics_minutely where application_id = $2) as delivered,
              (select count(*)::int from deliveries where id = any($1) and status = 'SUCCEEDED') as succeeded`,
      [deliveryIds, applicationId],
    );
    return row!;
  }

  // First in the file: no other test's updates of deliveries are counted.
  it('a batch of outcomes rewrites each delivery as a HOT update: no index entry for any of them', async () => {
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: Array.from({ length: 60 }, (_, n) => ({ applicationId, type: 'store.hot', data: { n } })),
    });
    const rows = await query<{ id: string }>(database.url, 'select id from deliveries where event_id = any($1) order by id', [
      publishEvents.map((event) => event.id),
    ]);
    const updates = () => tableCounters(database.url, ['deliveries']);
    const before = await updates();
    const own = new pg.Pool({ connectionString: database.url, max: 2 });
    const ownStore = new DeliveryStore(own, herald.config);
    try {
      const works = await Promise.all(
        rows.map(async (row) => {
          const start = await ownStore.start({ deliveryId: row.id, attempt: 1, poolId: 'test-pool' }, () => new Date());
          if (start.kind !== 'admitted') throw new Error(`expected an admission, got ${start.kind}`);
          start.release();
          return start.work;
        }),
      );
      // Half succeed, half fail (a retry scheduled): every outcome is an update of the delivery's row.
      const statuses = await Promise.all(works.map((work, n) => ownStore.record(n % 2 === 0 ? success(work) : retryLater(success(work)))));
      expect(new Set(statuses)).toEqual(new Set([DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED]));
    } finally {
      // Its backends report their statistics as they exit.
      await own.end();
    }
    const after = await waitUntil(updates, (now) => now.updates >= before.updates + rows.length);
    expect(after.updates - before.updates).toBe(rows.length);
    expect(after.hotUpdates - before.hotUpdates).toBe(rows.length);
  });

  function retryLater(record: AttemptRecord): AttemptRecord {
    return {
      ...record,
      status: DeliveryStatus.FAILED,
      nextAttemptAt: new Date(Date.now() + 60_000),
      lastError: 'HTTP 500',
      outcome: { ...record.outcome, ok: false, statusCode: 500, responseBody: 'broken' },
      verdict: { kind: 'failed', retryable: true, throttled: false, retryAfterMs: null },
    };
  }

  it('a batch of successes records each delivery, its attempt and its metrics once, and frees the slots', async () => {
    const before = (await counts([])).delivered;
    const works = [await admittedDelivery(), await admittedDelivery(), await admittedDelivery()];
    // Submitted in one turn of the event loop: one batch.
    const statuses = await Promise.all(works.map((work) => store.record(success(work))));
    expect(statuses).toEqual([DeliveryStatus.SUCCEEDED, DeliveryStatus.SUCCEEDED, DeliveryStatus.SUCCEEDED]);
    const after = await counts(works.map((work) => work.id));
    expect(after).toEqual({ attempts: 3, inflight: 0, delivered: before + 3, succeeded: 3 });
  });

  it('an attempt another worker already recorded changes nothing, and the rest of its batch is recorded once', async () => {
    const before = (await counts([])).delivered;
    const recordedTwice = await admittedDelivery();
    expect(await store.record(success(recordedTwice))).toBe(DeliveryStatus.SUCCEEDED);
    // The same attempt again (a second worker's record), in one batch with a fresh success.
    const fresh = await admittedDelivery();
    const statuses = await Promise.all([store.record(success(recordedTwice)), store.record(success(fresh))]);
    expect(statuses).toEqual([null, DeliveryStatus.SUCCEEDED]);
    const after = await counts([recordedTwice.id, fresh.id]);
    expect(after).toEqual({ attempts: 2, inflight: 0, delivered: before + 2, succeeded: 2 });
  });

  it('an endpoint deleted while its attempt is in flight takes its deliveries at once; recording the attempt frees its slot', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'deleted mid-attempt' } });
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId: createApplication.id, url: 'http://127.0.0.1:9/gone', eventTypes: ['*'] },
    });
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId: createApplication.id, type: 'store.gone', data: { n: 1 } },
    });
    const [row] = await query<{ id: string }>(database.url, 'select id from deliveries where event_id = $1', [publishEvent.id]);
    const start = await store.start({ deliveryId: row!.id, attempt: 1, poolId: 'test-pool' }, () => new Date());
    if (start.kind !== 'admitted') throw new Error(`expected an admission, got ${start.kind}`);

    await herald.call(DeleteEndpointDocument, { id: registerEndpoint.endpoint.id });
    expect(await query(database.url, 'select id from deliveries where id = $1', [row!.id])).toEqual([]);
    // The attempt's lease outlives its delivery (it names an endpoint no other delivery counts against) until the
    // worker records the attempt, which finds nothing left to record.
    expect(await counts([row!.id])).toMatchObject({ inflight: 1, attempts: 0 });
    expect(await store.record(success(start.work))).toBeNull();
    start.release();
    expect(await counts([row!.id])).toMatchObject({ inflight: 0, attempts: 0 });
  });

  it('parking a delivery deletes the job that parked it, in the same transaction; a job another pool holds is left', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'parking' } });
    const parkingApp = createApplication.id;
    await herald.call(RegisterEndpointDocument, {
      input: { applicationId: parkingApp, url: 'http://127.0.0.1:9/full', eventTypes: ['*'], maxConcurrency: 1 },
    });
    const deliveryOf = async (n: number) => {
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { applicationId: parkingApp, type: 'store.parked', data: { n } },
      });
      const [row] = await query<{ id: string; job_id: string }>(
        database.url,
        `select d.id, j.id::text as job_id from deliveries d
           join graphile_worker._private_jobs j on j.key = 'deliver:' || d.id
          where d.event_id = $1`,
        [publishEvent.id],
      );
      return row!;
    };
    const holding = await deliveryOf(1);
    const parked = await deliveryOf(2);
    const elsewhere = await deliveryOf(3);
    // Another worker process holds the endpoint's one slot.
    const otherProcess = new DeliveryStore(pool, herald.config);
    expect((await otherProcess.start({ deliveryId: holding.id, attempt: 1, poolId: 'other-pool' }, () => new Date())).kind).toBe(
      'admitted',
    );

    // As graphile-worker does when a pool takes a job: the row names the pool.
    await query(database.url, `update graphile_worker._private_jobs set locked_by = $2, locked_at = now() where id = $1`, [
      parked.job_id,
      'test-pool',
    ]);
    await query(database.url, `update graphile_worker._private_jobs set locked_by = $2, locked_at = now() where id = $1`, [
      elsewhere.job_id,
      'third-pool',
    ]);
    const starts = await Promise.all([
      store.start({ deliveryId: parked.id, attempt: 1, poolId: 'test-pool', jobId: parked.job_id }, () => new Date()),
      // A start naming a job the sweeper has since handed to another pool: that pool's job is not touched.
      store.start({ deliveryId: elsewhere.id, attempt: 1, poolId: 'test-pool', jobId: elsewhere.job_id }, () => new Date()),
    ]);
    expect(starts.map((start) => start.kind)).toEqual(['parked', 'parked']);
    const jobs = await query<{ id: string }>(
      database.url,
      'select id::text from graphile_worker._private_jobs where id = any($1::bigint[])',
      [[parked.job_id, elsewhere.job_id]],
    );
    expect(jobs.map((job) => job.id)).toEqual([elsewhere.job_id]);
    const parkedRows = await query<{ id: string }>(
      database.url,
      'select delivery_id as id from parked_deliveries where delivery_id = any($1)',
      [[parked.id, elsewhere.id]],
    );
    expect(parkedRows).toHaveLength(2);
  });

  it('admits no attempt that another job recorded (or a cancel finished) while the start waited for the endpoint, and parks none', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'changed meanwhile' } });
    const app = createApplication.id;
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId: app, url: 'http://127.0.0.1:9/changed', eventTypes: ['*'] },
    });
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [1, 2, 3].map((n) => ({ applicationId: app, type: 'store.changed', data: { n } })),
    });
    const ids = (
      await query<{ id: string }>(database.url, 'select id from deliveries where event_id = any($1) order by id', [
        publishEvents.map((event) => event.id),
      ])
    ).map((row) => row.id);
    // What the start loaded was attempt 0, PENDING; then, before its admission: one recorded a failure, one was cancelled.
    await query(database.url, `update deliveries set status = 'FAILED', attempt_count = 1 where id = $1`, [ids[0]]);
    await query(database.url, `update deliveries set status = 'CANCELLED' where id = $1`, [ids[1]]);
    const admissions = await inTransaction(pool, (tx) =>
      admitInTransaction(
        tx,
        ids.map((id) => ({
          deliveryId: id,
          attempt: 1,
          endpointId: registerEndpoint.endpoint.id,
          limit: 10,
          poolId: 'test-pool',
          parkedAt: null,
        })),
      ),
    );
    expect(admissions.map((admission) => admission.kind)).toEqual(['changed', 'changed', 'admitted']);
    expect(await counts(ids.slice(0, 2))).toMatchObject({ inflight: 0 });
    expect(await query(database.url, 'select 1 from parked_deliveries where delivery_id = any($1)', [ids])).toEqual([]);
    await inTransaction(pool, (tx) => releaseMany(tx, [{ endpointId: registerEndpoint.endpoint.id, deliveryId: ids[2]! }], 10));
  });

  it('with thousands of parked deliveries, starts, records and wakes read parked_deliveries through its indexes only', async () => {
    // Two endpoints of their own: one with 2,000 parked deliveries, one with none.
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'many parked' } });
    const app = createApplication.id;
    const endpoint = async (eventType: string) =>
      (
        await herald.call(RegisterEndpointDocument, {
          input: { applicationId: app, url: 'http://127.0.0.1:9/parked', eventTypes: [eventType] },
        })
      ).registerEndpoint.endpoint.id;
    const crowded = await endpoint('store.crowded');
    await endpoint('store.quiet');
    for (let call = 0; call < 20; call++) {
      await herald.call(PublishEventsDocument, {
        inputs: Array.from({ length: 100 }, (_, n) => ({ applicationId: app, type: 'store.crowded', data: { call, n } })),
      });
    }
    await query(
      database.url,
      'insert into parked_deliveries (delivery_id, endpoint_id) select id, endpoint_id from deliveries where endpoint_id = $1',
      [crowded],
    );
    await query(database.url, 'analyze parked_deliveries');
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [
        { applicationId: app, type: 'store.quiet', data: { n: 1 } },
        { applicationId: app, type: 'store.crowded', data: { n: 2 } },
      ],
    });
    const fresh = await query<{ id: string }>(database.url, 'select id from deliveries where event_id = any($1) order by endpoint_id', [
      publishEvents.map((event) => event.id),
    ]);
    const [parked] = await query<{ id: string }>(
      database.url,
      'select max(delivery_id) as id from parked_deliveries where endpoint_id = $1',
      [crowded],
    );
    const scans = () => tableCounters(database.url, ['parked_deliveries']);
    const before = await scans();

    const generic = new pg.Pool({ connectionString: database.url, max: 2, options: GENERIC_PLANS });
    const genericStore = new DeliveryStore(generic, herald.config);
    try {
      for (const id of [...fresh.map((row) => row.id), parked!.id]) {
        const start = await genericStore.start({ deliveryId: id, attempt: 1, poolId: 'test-pool' }, () => new Date());
        if (start.kind !== 'admitted') throw new Error(`expected an admission, got ${start.kind}`);
        // Recording frees the slot, probes each endpoint for parked deliveries and wakes the crowded one's.
        expect(await genericStore.record(success(start.work))).toBe(DeliveryStatus.SUCCEEDED);
        start.release();
      }
    } finally {
      await generic.end();
    }
    // The pool's backends report their statistics as they exit (read before this test's own queries of the table).
    const after = await waitUntil(scans, (now) => now.indexScans > before.indexScans);
    expect(after.seqScans).toBe(before.seqScans);
    // The admitted parked delivery's row went, and each of the two crowded records woke 64 (the endpoint's free slots,
    // oldest first: the admitted one was the newest), each given its job.
    expect(await query(database.url, 'select 1 from parked_deliveries where delivery_id = $1', [parked!.id])).toEqual([]);
    const [{ parked: left }] = (await query<{ parked: number }>(
      database.url,
      'select count(*)::int as parked from parked_deliveries where endpoint_id = $1',
      [crowded],
    )) as [{ parked: number }];
    expect(left).toBe(2000 - 1 - 2 * 64);
  });

  it("an attempt in flight in another live pool is not started again; a dead pool's is taken over", async () => {
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type: 'store.twice', data: { n: 1 } } });
    const [row] = await query<{ id: string }>(database.url, 'select id from deliveries where event_id = $1', [publishEvent.id]);
    const deliveryId = row!.id;
    // A pool abandoned while its attempt was in flight: its job was handed on (graphile-worker failed it back to the
    // queue), and another pool runs it while the first one's request is still out.
    const first = await store.start({ deliveryId, attempt: 1, poolId: 'abandoned-pool' }, () => new Date());
    expect(first.kind).toBe('admitted');
    const second = await store.start({ deliveryId, attempt: 1, poolId: 'new-pool' }, () => new Date());
    expect(second).toMatchObject({ kind: 'held', reason: 'in-flight-elsewhere' });
    const [slot] = await query<{ pool_id: string }>(database.url, 'select pool_id from endpoint_inflight where delivery_id = $1', [
      deliveryId,
    ]);
    expect(slot!.pool_id).toBe('abandoned-pool');

    // Once that pool is dead (no heartbeat, its slot older than the dead-after time), the attempt is taken over.
    await query(database.url, `update endpoint_inflight set started_at = now() - interval '1 hour' where delivery_id = $1`, [deliveryId]);
    const third = await store.start({ deliveryId, attempt: 1, poolId: 'new-pool' }, () => new Date());
    if (third.kind !== 'admitted') throw new Error(`expected an admission, got ${third.kind}`);
    expect(await store.record(success(third.work))).toBe(DeliveryStatus.SUCCEEDED);
    third.release();
  });
});
