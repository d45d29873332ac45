import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  MetricsDocument,
  type MetricsUpdatedSubscription,
  MetricsUpdatedDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase, query } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

describe('metrics from rollups: query and metricsUpdated subscription', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let healthy: WebhookReceiver;
  let broken: WebhookReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, {
      config: {
        delivery: {
          ...testConfig(database.url).delivery,
          retry: { schedule: { kind: 'exponential', baseMs: 50, factor: 1, maxMs: 50 }, maxAttempts: 2, maxAgeMs: null, jitter: 0 },
        },
        metrics: { pushIntervalMs: 60_000, minPushGapMs: 200 },
      },
    });
    healthy = await WebhookReceiver.start(() => ({ status: 200, body: 'ok', delayMs: 30 }));
    broken = await WebhookReceiver.start(() => ({ status: 503, body: 'down for maintenance' }));
  });
  afterAll(async () => {
    await herald?.stop();
    await healthy?.close();
    await broken?.close();
    await database?.drop();
  });

  it('counts outcomes, latency, queue and endpoint health exactly as the delivery log says, per application', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'metrics' } });
    const { createApplication: other } = await herald.call(CreateApplicationDocument, { input: { name: 'other' } });
    const good = (await herald.call(RegisterEndpointDocument, { input: { url: healthy.url, applicationId: app.id } })).registerEndpoint;
    const bad = (await herald.call(RegisterEndpointDocument, { input: { url: broken.url, applicationId: app.id } })).registerEndpoint;
    await herald.call(RegisterEndpointDocument, { input: { url: healthy.url, applicationId: other.id } });

    const before = await herald.call(MetricsDocument, { window: 'LAST_HOUR' as never, applicationId: app.id });
    expect(before.metrics.total).toBe(0);

    for (let index = 0; index < 5; index += 1) {
      await herald.call(PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-1', index }, applicationId: app.id } });
    }
    await herald.call(PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-1' }, applicationId: other.id } });

    // 5 successes to the good endpoint; each delivery to the bad one fails once, then dies.
    const metrics = await waitUntil(
      async () => (await herald.call(MetricsDocument, { window: 'LAST_HOUR' as never, applicationId: app.id })).metrics,
      (value) => value.delivered === 5 && value.dead === 5,
    );
    expect(metrics).toMatchObject({ total: 15, attempts: 15, delivered: 5, failed: 5, dead: 5, successRate: 0.3333 });

    const logged = await query<{ n: string; status: string }>(
      database.url,
      `select d.status, count(*) as n from delivery_attempts a join deliveries d on d.id = a.delivery_id
       where d.application_id = $1 group by d.status`,
      [app.id],
    );
    expect(Object.fromEntries(logged.map((row) => [row.status, Number(row.n)]))).toEqual({ SUCCEEDED: 5, DEAD: 10 });

    const durations = await query<{ duration_ms: number }>(
      database.url,
      `select a.duration_ms from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.application_id = $1`,
      [app.id],
    );
    const average = durations.reduce((sum, row) => sum + row.duration_ms, 0) / durations.length;
    expect(metrics.latency.averageMs).toBeCloseTo(average, 0);
    expect(metrics.latency.maxMs).toBe(Math.max(...durations.map((row) => row.duration_ms)));
    expect(metrics.latency.p50Ms).not.toBeNull();
    expect(metrics.latency.p99Ms!).toBeGreaterThanOrEqual(metrics.latency.p50Ms!);

    const perMinute = metrics.throughput.reduce((sum, point) => sum + point.delivered + point.failed + point.dead, 0);
    expect(perMinute).toBe(15);
    expect(metrics.throughput.length).toBeGreaterThanOrEqual(60);
    expect(metrics.queue).toMatchObject({ pending: 0, scheduled: 0, oldestPendingAt: null });

    const goodHealth = metrics.endpoints.find((endpoint) => endpoint.endpointId === good.endpoint.id);
    const badHealth = metrics.endpoints.find((endpoint) => endpoint.endpointId === bad.endpoint.id);
    expect(goodHealth).toMatchObject({ state: 'HEALTHY', successRate: 1, consecutiveFailures: 0, delivered: 5 });
    expect(badHealth).toMatchObject({ state: 'FAILING', successRate: 0, consecutiveFailures: 10, dead: 5, failed: 5 });
    expect(badHealth?.lastError).toContain('503');
    expect(metrics.endpoints.every((endpoint) => endpoint.applicationId === app.id)).toBe(true);

    const one = await herald.call(MetricsDocument, { window: 'LAST_5_MINUTES' as never, endpointId: good.endpoint.id });
    expect(one.metrics).toMatchObject({ total: 5, delivered: 5, dead: 0 });
    expect(one.metrics.endpoints.map((endpoint) => endpoint.endpointId)).toEqual([good.endpoint.id]);
  });

  it('reports queue depth and the oldest pending age from the open deliveries', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'queue' } });
    await herald.call(RegisterEndpointDocument, { input: { url: healthy.url, applicationId: app.id } });
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { type: 'a.b', data: {}, applicationId: app.id } });
    await waitUntil(
      () => query<{ status: string }>(database.url, 'select status from deliveries where event_id = $1', [publishEvent.id]),
      (rows) => rows[0]?.status === 'SUCCEEDED',
    );
    // A delivery waiting for its retry and one not attempted yet, made as the executor and publisher would leave them.
    // (event, endpoint) is unique: each of the two rows gets its own event.
    for (const status of ['PENDING', 'FAILED']) {
      await query(database.url, `insert into events (id, application_id, type, payload) values ($1, $2, 'a.b', '{}')`, [
        `evt_queued_${status}`,
        app.id,
      ]);
      await query(
        database.url,
        `insert into deliveries (id, event_id, endpoint_id, application_id, event_type, status, next_attempt_at, created_at)
         select $1, $2, endpoint_id, application_id, 'a.b', $3, now() + interval '1 hour', now() - interval '90 seconds'
         from deliveries where event_id = $4`,
        [`dlv_queued_${status}`, `evt_queued_${status}`, status, publishEvent.id],
      );
    }
    const { metrics } = await herald.call(MetricsDocument, { window: 'LAST_15_MINUTES' as never, applicationId: app.id });
    expect(metrics.queue.pending).toBe(1);
    expect(metrics.queue.scheduled).toBe(1);
    expect(metrics.queue.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(89);
    expect(metrics.queue.oldestPendingAgeSeconds).toBeLessThan(120);
  });

  it('pushes metrics over graphql-ws at once and again soon after a delivery in scope completes', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'live' } });
    await herald.call(RegisterEndpointDocument, { input: { url: healthy.url, applicationId: app.id } });
    const recorder = new SubscriptionRecorder<MetricsUpdatedSubscription>(herald.wsClient(), MetricsUpdatedDocument, {
      window: 'LAST_15_MINUTES',
      applicationId: app.id,
    });
    await recorder.ready;
    await recorder.waitFor((data) => data.length >= 1, 5000);
    expect(recorder.data[0]?.metricsUpdated.total).toBe(0);
    await herald.call(PublishEventDocument, { input: { type: 'live.one', data: {}, applicationId: app.id } });
    // The periodic push is a minute away here: only the change can explain a fresh push this soon.
    const pushes = await recorder.waitFor((data) => data.some((item) => item.metricsUpdated.delivered === 1), 5000);
    expect(pushes.at(-1)?.metricsUpdated.endpoints[0]?.state).toBe('HEALTHY');
    recorder.stop();
  });

  it('answers an unknown application or endpoint with NOT_FOUND', async () => {
    const result = await herald.request(MetricsDocument, { window: 'LAST_HOUR' as never, applicationId: 'app_nope' });
    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const bad = await herald.request(MetricsDocument, { window: 'LAST_DECADE' as never });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(bad.errors?.[0]?.message).toContain('MetricsWindow');
  });
});
