import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DisableEndpointDocument,
  MetricsDocument,
  type MetricsUpdatedSubscription,
  MetricsUpdatedDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  RetryDeliveryDocument,
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
    // In deliveries: 10 finished, half of them delivered; 10 of the 15 attempts failed.
    expect(metrics).toMatchObject({
      deliveriesDelivered: 5,
      deliveriesDeadLettered: 5,
      deliveriesRetrying: 0,
      deliverySuccessRate: 0.5,
      failedAttempts: 10,
    });

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
    // The same meanings as the query: deliveries, then attempts.
    expect(pushes.at(-1)?.metricsUpdated).toMatchObject({
      deliveriesDelivered: 1,
      deliveriesDeadLettered: 0,
      deliveriesRetrying: 0,
      deliverySuccessRate: 1,
      attempts: 1,
      failedAttempts: 0,
    });
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

describe('metrics count deliveries where they say deliveries, attempts where they say attempts: GraphQL and /metrics', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  /** Bodies with one of these markers are refused (HTTP 500), as is every request to /slow and /disabled. */
  const failing = new Set<string>();

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, {
      config: {
        delivery: {
          ...testConfig(database.url).delivery,
          retry: { schedule: { kind: 'exponential', baseMs: 50, factor: 1, maxMs: 50 }, maxAttempts: 2, maxAgeMs: null, jitter: 0 },
          // Dead letters must not disable the endpoints on their own here.
          disableAfterDeadLetters: 0,
        },
        metrics: { pushIntervalMs: 60_000, minPushGapMs: 200 },
      },
    });
    receiver = await WebhookReceiver.start((request) =>
      /\/(slow|disabled)$/.test(request.path) || [...failing].some((marker) => request.body.includes(marker))
        ? { status: 500, body: 'refused' }
        : { status: 200, body: 'ok', delayMs: 5 },
    );
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  async function scrape(): Promise<PrometheusFamily[]> {
    const response = await fetch(`${herald.url}/metrics`);
    expect(response.status).toBe(200);
    return parsePrometheusTextFormat(await response.text());
  }
  function values(families: PrometheusFamily[], name: string): Record<string, number> {
    const found = families.find((candidate) => candidate.name === name);
    if (!found) throw new Error(`no metric family ${name}`);
    return Object.fromEntries(found.metrics.map((metric) => [Object.values(metric.labels ?? {}).join(',') || '', Number(metric.value)]));
  }
  function help(families: PrometheusFamily[], name: string): string {
    return families.find((candidate) => candidate.name === name)?.help ?? '';
  }

  it('counts each delivery once by its outcome now, attempts apart, a dead letter retried into a success as delivered, in GraphQL and /metrics', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'deliveries' } });
    const register = async (path: string, eventTypes: string[], retryPolicy?: { delaysMs: number[]; maxAttempts: number }) =>
      (
        await herald.call(RegisterEndpointDocument, {
          input: { url: `${receiver.url}${path}`, applicationId: app.id, eventTypes, ...(retryPolicy ? { retryPolicy } : {}) },
        })
      ).registerEndpoint.endpoint.id;
    const orders = await register('', ['order.*']);
    // Fails once, then waits a minute for its retry: a delivery retrying now.
    await register('/slow', ['slow.*'], { delaysMs: [60_000], maxAttempts: 2 });
    // Fails once, then is disabled before its retry: dead-lettered without a second attempt.
    const disabled = await register('/disabled', ['gone.*'], { delaysMs: [1500], maxAttempts: 2 });
    const publish = async (type: string, data: Record<string, unknown>) =>
      (await herald.call(PublishEventDocument, { input: { type, data, applicationId: app.id } })).publishEvent.id;
    const metricsNow = async () => (await herald.call(MetricsDocument, { window: 'LAST_HOUR' as never, applicationId: app.id })).metrics;

    for (let index = 0; index < 3; index += 1) await publish('order.created', { orderId: `O-${index}` });
    failing.add('fail-0').add('fail-1');
    const [failedFirst] = [await publish('order.failed', { marker: 'fail-0' }), await publish('order.failed', { marker: 'fail-1' })];
    await publish('slow.one', {});
    await publish('gone.one', {});
    const gone = await waitUntil(
      () => query<{ id: string; status: string }>(database.url, `select id, status from deliveries where endpoint_id = $1`, [disabled]),
      (rows) => rows[0]?.status === 'FAILED',
    );
    await herald.call(DisableEndpointDocument, { id: disabled, reason: 'metrics test' });
    await waitUntil(
      () => query<{ status: string }>(database.url, 'select status from deliveries where id = $1', [gone[0]!.id]),
      (rows) => rows[0]?.status === 'DEAD',
    );

    // Deliveries: 3 delivered, 3 dead letters (2 out of attempts, 1 of the disabled endpoint), 1 waiting for a retry.
    // Attempts: 3 that succeeded, 2 x 2 to the refused orders, 1 each to /slow and /disabled.
    const before = await waitUntil(metricsNow, (value) => value.deliveriesDelivered === 3 && value.deliveriesDeadLettered === 3);
    expect(before).toMatchObject({
      deliveriesDelivered: 3,
      deliveriesDeadLettered: 3,
      deliveriesRetrying: 1,
      deliverySuccessRate: 0.5,
      attempts: 9,
      failedAttempts: 6,
      // The older fields keep their meaning: attempt outcomes and dead-letterings.
      total: 10,
      delivered: 3,
      failed: 4,
      dead: 3,
      successRate: 0.3,
    });
    expect(before.queue.scheduled).toBe(before.deliveriesRetrying);
    const sum = (key: 'deliveriesDelivered' | 'deliveriesDeadLettered' | 'failedAttempts' | 'attempts') =>
      before.throughput.reduce((total, point) => total + point[key], 0);
    expect([sum('deliveriesDelivered'), sum('deliveriesDeadLettered'), sum('attempts'), sum('failedAttempts')]).toEqual([3, 3, 9, 6]);
    expect(before.endpoints.find((endpoint) => endpoint.endpointId === orders)).toMatchObject({
      deliveriesDelivered: 3,
      deliveriesDeadLettered: 2,
      deliverySuccessRate: 0.6,
      attempts: 7,
      failedAttempts: 4,
    });
    expect(before.endpoints.find((endpoint) => endpoint.endpointId === disabled)).toMatchObject({
      deliveriesDelivered: 0,
      deliveriesDeadLettered: 1,
      deliverySuccessRate: 0,
      attempts: 1,
      failedAttempts: 1,
    });

    // A dead letter retried and delivered is a delivered delivery now, and no longer a dead letter.
    failing.delete('fail-0');
    const [retried] = await query<{ id: string }>(database.url, 'select id from deliveries where event_id = $1', [failedFirst]);
    await herald.call(RetryDeliveryDocument, { id: retried!.id });
    const after = await waitUntil(metricsNow, (value) => value.deliveriesDelivered === 4);
    expect(after).toMatchObject({
      deliveriesDelivered: 4,
      deliveriesDeadLettered: 2,
      deliveriesRetrying: 1,
      deliverySuccessRate: 0.6667,
      attempts: 10,
      failedAttempts: 6,
      // Dead-letterings stay counted where the old field counts them.
      dead: 3,
      delivered: 4,
    });
    expect(after.throughput.reduce((total, point) => total + point.deliveriesDeadLettered, 0)).toBe(2);

    // /metrics: the same meanings, under names that say deliveries or attempts.
    const families = await scrape();
    expect(values(families, 'herald_deliveries_delivered_total')).toEqual({ '': 4 });
    expect(values(families, 'herald_deliveries_dead_lettered_total')).toEqual({ '': 3 });
    expect(values(families, 'herald_dead_letters')).toEqual({ '': 2 });
    expect(values(families, 'herald_deliveries_retrying')).toEqual({ '': 1 });
    expect(values(families, 'herald_delivery_attempts_total')).toEqual({ succeeded: 4, failed: 6 });
    // Kept as it was, its HELP saying it counts attempt outcomes.
    expect(values(families, 'herald_deliveries_total')).toEqual({ delivered: 4, failed: 4, dead: 3 });
    expect(help(families, 'herald_deliveries_total')).toMatch(/attempt/);
    expect(help(families, 'herald_deliveries_delivered_total')).toMatch(/^Deliveries delivered/);
    expect(help(families, 'herald_delivery_attempts_total')).toMatch(/^HTTP attempts/);
    expect(families.find((family) => family.name === 'herald_dead_letters')?.type).toBe('GAUGE');
    expect(families.find((family) => family.name === 'herald_delivery_attempts_total')?.type).toBe('COUNTER');
  });
});
