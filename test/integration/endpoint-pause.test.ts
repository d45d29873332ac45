import { describe, expect, it } from 'vitest';
import {
  CancelPendingDeliveriesDocument,
  CreateApplicationDocument,
  EndpointBacklogDocument,
  PauseEndpointDocument,
  PublishEventsDocument,
  type RegisterEndpointMutationVariables,
  RegisterEndpointDocument,
  ResumeEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { attemptStartTimes, query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { receiversOfSuite } from '../helpers/receiver';

const heraldFile = heraldTestWith();

describe('pauseEndpoint, resumeEndpoint and cancelPendingDeliveries', { timeout: 180_000 }, () => {
  let database: { url: string };
  let herald: TestHerald;
  const receiver = receiversOfSuite();

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
  });

  async function newApplication(name: string): Promise<string> {
    return (await herald.call(CreateApplicationDocument, { input: { name } })).createApplication.id;
  }

  async function register(input: RegisterEndpointMutationVariables['input']): Promise<string> {
    return (await herald.call(RegisterEndpointDocument, { input })).registerEndpoint.endpoint.id;
  }

  /** Publishes `count` events of `type` in batches of 100, `data.i` counting from 0, in order. */
  async function publish(applicationId: string, type: string, count: number): Promise<void> {
    for (let from = 0; from < count; from += 100) {
      const inputs = Array.from({ length: Math.min(100, count - from) }, (_, k) => ({ applicationId, type, data: { i: from + k } }));
      await herald.call(PublishEventsDocument, { inputs });
    }
  }

  /** The endpoint's deliveries by status, with their attempt counts. */
  function statuses(endpointId: string) {
    return query<{ status: string; attempts: number; n: number }>(
      database.url,
      `select status, attempt_count as attempts, count(*)::int as n from deliveries where endpoint_id = $1 group by 1, 2 order by 1, 2`,
      [endpointId],
    );
  }

  async function attemptRows(endpointId: string): Promise<number> {
    const [row] = await query<{ n: number }>(
      database.url,
      `select count(*)::int as n from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.endpoint_id = $1`,
      [endpointId],
    );
    return row!.n;
  }

  /**
   * The worker has run every job the endpoint's deliveries had and parked what it ran: no deliver job is left for
   * them, and `parked` of them are parked.
   */
  async function waitForParked(endpointId: string, parked: number): Promise<void> {
    await waitUntil(
      () =>
        query<{ jobs: number; parked: number }>(
          database.url,
          `select (select count(*)::int from graphile_worker.jobs j
                    where j.key in (select 'deliver:' || id from deliveries where endpoint_id = $1)) as jobs,
                  (select count(*)::int from parked_deliveries where endpoint_id = $1) as parked`,
          [endpointId],
        ),
      (rows) => rows[0]!.jobs === 0 && rows[0]!.parked === parked,
      60_000,
    );
  }

  it('a paused endpoint gets nothing from 1,000 events and loses nothing: resumed, it receives all of them, in order, once each', async () => {
    const applicationId = await newApplication('pause ordered');
    const orderedReceiver = await receiver();
    const limitedReceiver = await receiver();
    const ordered = await register({ applicationId, url: orderedReceiver.url, eventTypes: ['pause.*'], ordered: true });
    // An unordered endpoint with a rate limit: every one of its deliveries has a job, each parked when it runs.
    const limited = await register({ applicationId, url: limitedReceiver.url, eventTypes: ['limited.*'], rateLimitPerSecond: 100 });

    const paused = (await herald.call(PauseEndpointDocument, { id: ordered })).pauseEndpoint;
    expect(paused).toMatchObject({ paused: true, pendingDeliveries: 0 });
    expect(paused.pausedAt).not.toBeNull();
    // Pausing again keeps the first pause.
    expect((await herald.call(PauseEndpointDocument, { id: ordered })).pauseEndpoint.pausedAt).toBe(paused.pausedAt);
    await herald.call(PauseEndpointDocument, { id: limited });

    await publish(applicationId, 'pause.tick', 1000);
    await publish(applicationId, 'limited.tick', 200);

    // The ordered endpoint's one job (its group's head) and the other's 200 have run and parked their deliveries.
    await waitForParked(ordered, 1);
    await waitForParked(limited, 200);
    expect(await attemptRows(ordered)).toBe(0);
    expect(await attemptRows(limited)).toBe(0);
    expect(orderedReceiver.requests).toHaveLength(0);
    expect(limitedReceiver.requests).toHaveLength(0);
    expect(await statuses(ordered)).toEqual([{ status: 'PENDING', attempts: 0, n: 1000 }]);
    expect(await statuses(limited)).toEqual([{ status: 'PENDING', attempts: 0, n: 200 }]);
    expect((await herald.call(EndpointBacklogDocument, { id: ordered })).endpoint).toMatchObject({ paused: true, pendingDeliveries: 1000 });

    const resumed = (await herald.call(ResumeEndpointDocument, { id: ordered })).resumeEndpoint;
    expect(resumed).toMatchObject({ paused: false, pausedAt: null });
    await herald.call(ResumeEndpointDocument, { id: limited });

    const arrivals = await orderedReceiver.waitForRequests(1000, 120_000);
    await limitedReceiver.waitForRequests(200, 60_000);
    await waitUntil(
      async () => [...(await statuses(ordered)), ...(await statuses(limited))],
      (rows) => rows.every((row) => row.status === 'SUCCEEDED'),
      30_000,
    );
    // Every delivery succeeded at its first attempt: none dead, none attempted twice.
    expect(await statuses(ordered)).toEqual([{ status: 'SUCCEEDED', attempts: 1, n: 1000 }]);
    expect(await statuses(limited)).toEqual([{ status: 'SUCCEEDED', attempts: 1, n: 200 }]);
    expect(await attemptRows(ordered)).toBe(1000);
    expect(orderedReceiver.requests).toHaveLength(1000);
    // FIFO: in publish order.
    expect(arrivals.map((request) => (JSON.parse(request.body) as { data: { i: number } }).data.i)).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
    // The rate limit holds while the backlog drains: 200 attempts at 100 per second take at least 1.9 s.
    const starts = await attemptStartTimes(database.url, { endpointId: limited });
    expect(starts).toHaveLength(200);
    expect(Math.max(...starts) - Math.min(...starts)).toBeGreaterThanOrEqual(1900);
    expect((await herald.call(EndpointBacklogDocument, { id: ordered })).endpoint.pendingDeliveries).toBe(0);
  });

  it('the time a delivery waits paused does not count towards its maximum age', async () => {
    const applicationId = await newApplication('pause age');
    // The first request fails, the next succeeds.
    const flaky = await receiver((_request, index) => (index === 0 ? { status: 500 } : { status: 200 }));
    const maxAgeMs = 1500;
    const endpoint = await register({
      applicationId,
      url: flaky.url,
      eventTypes: ['aged.*'],
      retryPolicy: { delaysMs: [100], maxAttempts: 2, maxAgeMs, jitter: 0 },
    });
    await herald.call(PauseEndpointDocument, { id: endpoint });
    await publish(applicationId, 'aged.tick', 1);
    await waitForParked(endpoint, 1);
    // Paused for longer than the maximum age, by the database's clock.
    await waitUntil(
      () =>
        query<{ ms: number }>(
          database.url,
          `select (extract(epoch from now() - created_at) * 1000)::float8 as ms from deliveries where endpoint_id = $1`,
          [endpoint],
        ),
      (rows) => rows[0]!.ms > maxAgeMs + 500,
      10_000,
      100,
    );
    await herald.call(ResumeEndpointDocument, { id: endpoint });
    await flaky.waitForRequests(2, 15_000);
    const rows = await waitUntil(
      () => statuses(endpoint),
      (found) => found.every((row) => row.status === 'SUCCEEDED' || row.status === 'DEAD'),
    );
    // Counted from its creation, the failed first attempt would have dead-lettered it (its retry after the maximum age).
    expect(rows).toEqual([{ status: 'SUCCEEDED', attempts: 2, n: 1 }]);
  });

  it('cancelPendingDeliveries keeps the cancelled deliveries as CANCELLED, never attempts them, and the FIFO group goes on', async () => {
    const applicationId = await newApplication('cancel');
    const target = await receiver();
    const endpoint = await register({ applicationId, url: target.url, eventTypes: ['cancel.*'], ordered: true });
    await herald.call(PauseEndpointDocument, { id: endpoint });
    await publish(applicationId, 'cancel.first', 5);
    await waitForParked(endpoint, 1);
    // A time after the first five were created, before the next ones are.
    const [{ ms }] = (await query<{ ms: number }>(
      database.url,
      `select (extract(epoch from max(created_at)) * 1000)::float8 as ms from deliveries where endpoint_id = $1`,
      [endpoint],
    )) as [{ ms: number }];
    const before = new Date(Math.floor(ms) + 1).toISOString();
    await waitUntil(
      () => query<{ after: boolean }>(database.url, `select now() > $1::timestamptz as after`, [before]),
      (rows) => rows[0]!.after,
    );
    await publish(applicationId, 'cancel.second', 3);

    // The first five (the group's parked head among them) are cancelled; the three published later wait.
    const { cancelPendingDeliveries } = await herald.call(CancelPendingDeliveriesDocument, { endpointId: endpoint, before });
    expect(cancelPendingDeliveries).toBe(5);
    expect(await statuses(endpoint)).toEqual([
      { status: 'CANCELLED', attempts: 0, n: 5 },
      { status: 'PENDING', attempts: 0, n: 3 },
    ]);
    const cancelledJobs = await query<{ n: number }>(
      database.url,
      `select count(*)::int as n from graphile_worker.jobs j join deliveries d on j.key = 'deliver:' || d.id
       where d.endpoint_id = $1 and d.status = 'CANCELLED'`,
      [endpoint],
    );
    expect(cancelledJobs[0]!.n).toBe(0);
    expect((await herald.call(EndpointBacklogDocument, { id: endpoint })).endpoint.pendingDeliveries).toBe(3);
    // Cancelling again finds nothing before the same time.
    expect((await herald.call(CancelPendingDeliveriesDocument, { endpointId: endpoint, before })).cancelPendingDeliveries).toBe(0);

    // The group's next delivery got its job and, the endpoint still paused, parked.
    await waitForParked(endpoint, 1);
    await herald.call(ResumeEndpointDocument, { id: endpoint });
    const arrivals = await target.waitForRequests(3, 20_000);
    await waitUntil(
      () => statuses(endpoint),
      (rows) => rows.every((row) => row.status !== 'PENDING' && row.status !== 'FAILED'),
    );
    expect(await statuses(endpoint)).toEqual([
      { status: 'CANCELLED', attempts: 0, n: 5 },
      { status: 'SUCCEEDED', attempts: 1, n: 3 },
    ]);
    expect(arrivals.map((request) => (JSON.parse(request.body) as { event: string; data: { i: number } }).data.i)).toEqual([0, 1, 2]);
    expect(arrivals.every((request) => (JSON.parse(request.body) as { event: string }).event === 'cancel.second')).toBe(true);
    expect(target.requests).toHaveLength(3);
    const cancelledAttempts = await query<{ n: number }>(
      database.url,
      `select count(*)::int as n from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.endpoint_id = $1 and d.status = 'CANCELLED'`,
      [endpoint],
    );
    expect(cancelledAttempts[0]!.n).toBe(0);
  });

  it('an application key cannot pause, resume or cancel the deliveries of another application; bad input gets a code', async () => {
    const mine = await newApplication('tenant a');
    const theirs = await newApplication('tenant b');
    const target = await receiver();
    const theirEndpoint = await register({ applicationId: theirs, url: target.url });
    const myEndpoint = await register({ applicationId: mine, url: target.url });
    const key = await herald.createKey({ name: 'tenant a key', applicationId: mine });
    const auth = { authorization: `Bearer ${key}` };

    for (const answer of [
      await herald.request(PauseEndpointDocument, { id: theirEndpoint }, auth),
      await herald.request(ResumeEndpointDocument, { id: theirEndpoint }, auth),
      await herald.request(CancelPendingDeliveriesDocument, { endpointId: theirEndpoint }, auth),
    ]) {
      expect(answer.errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' }, message: expect.stringContaining(theirEndpoint) });
    }
    expect((await herald.call(EndpointBacklogDocument, { id: theirEndpoint })).endpoint.paused).toBe(false);

    // Its own endpoint: allowed.
    const own = await herald.request(PauseEndpointDocument, { id: myEndpoint }, auth);
    expect(own.errors).toBeUndefined();
    expect(own.data?.pauseEndpoint.paused).toBe(true);

    const badDate = await herald.request(CancelPendingDeliveriesDocument, { endpointId: myEndpoint, before: 'yesterday' }, auth);
    expect(badDate.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(badDate.errors?.[0]?.message).toMatch(/before/);
    const unknown = await herald.request(ResumeEndpointDocument, { id: 'ep_missing' }, auth);
    expect(unknown.errors?.[0]).toMatchObject({ extensions: { code: 'NOT_FOUND' }, message: expect.stringContaining('ep_missing') });
  });
});
