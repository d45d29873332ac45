import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded-postgres';
import { RetentionService } from '../../src/modules/retention/retention.service';
import {
  CreateApplicationDocument,
  EnableEndpointDocument,
  EndpointStatusChangedDocument,
  type EndpointStatusChangedSubscription,
  PublishEventDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase, query } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { type ReceiverBehaviour, WebhookReceiver } from '../helpers/receiver';

interface AttemptRow {
  number: number;
  response_status: number | null;
  error_kind: string | null;
  response_body: string | null;
  response_body_truncated: boolean;
}

/**
 * Each delivery rule of docs/delivery-policy.md against a real receiver on 127.0.0.1. Retries use the
 * seed preset's shape scaled to 100 ms; Retry-After is capped at 1.5 s; 3 dead letters disable.
 */
describe('delivery policy against a local receiver', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  const receivers: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const base = testConfig(database.url).delivery;
    herald = await startTestHerald(database.url, {
      config: { delivery: { ...base, timeoutMs: 1000, retryAfterMaxMs: 1500, disableAfterDeadLetters: 3 } },
    });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function receiver(behaviour?: ReceiverBehaviour): Promise<WebhookReceiver> {
    const started = await WebhookReceiver.start(behaviour);
    receivers.push(started);
    return started;
  }
  async function application(): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'policy' } });
    return createApplication.id;
  }
  async function endpoint(applicationId: string, url: string, extra: Record<string, unknown> = {}): Promise<string> {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { applicationId, url, ...extra } });
    return registerEndpoint.endpoint.id;
  }
  async function publish(applicationId: string, data: Record<string, unknown> = {}, orderingKey?: string) {
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type: 'policy.test', data, orderingKey } });
    return publishEvent;
  }
  const attempts = (deliveryId: string) =>
    query<AttemptRow>(database.url, 'select * from delivery_attempts where delivery_id = $1 order by number', [deliveryId]);
  const deliveryStatus = async (deliveryId: string) =>
    (await query<{ status: string }>(database.url, 'select status from deliveries where id = $1', [deliveryId]))[0]!.status;
  const waitForStatus = (deliveryId: string, status: string, timeoutMs = 15_000) =>
    waitUntil(
      () => deliveryStatus(deliveryId),
      (value) => value === status,
      timeoutMs,
    );

  it('Retry-After in seconds: the next attempt waits as asked (longer than the 100 ms schedule) and pauses the endpoint', async () => {
    const target = await receiver((_request, index) => (index === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const applicationId = await application();
    const endpointId = await endpoint(applicationId, target.url);
    const event = await publish(applicationId);
    await waitForStatus(event.deliveries[0]!.id, 'SUCCEEDED');
    const [first, second] = target.requests;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(950);
    expect((await attempts(event.deliveries[0]!.id)).map((a) => a.response_status)).toEqual([429, 200]);
    const [row] = await query<{ throttled_until: Date | null }>(database.url, 'select throttled_until from endpoints where id = $1', [
      endpointId,
    ]);
    expect(row!.throttled_until).not.toBeNull();
  });

  it('Retry-After as an HTTP date is honoured too, and a huge Retry-After is cut to the configured cap', async () => {
    const dated = await receiver((_request, index) =>
      index === 0 ? { status: 503, headers: { 'retry-after': new Date(Date.now() + 2000).toUTCString() } } : { status: 200 },
    );
    const capped = await receiver((_request, index) =>
      index === 0 ? { status: 429, headers: { 'retry-after': '3600' } } : { status: 200 },
    );
    const applicationId = await application();
    await endpoint(applicationId, dated.url);
    await endpoint(applicationId, capped.url);
    const event = await publish(applicationId);
    await Promise.all(event.deliveries.map((delivery) => waitForStatus(delivery.id, 'SUCCEEDED')));
    // An HTTP date has whole seconds: "2 s from now" is between 1 and 2 s away.
    expect(dated.requests[1]!.receivedAt - dated.requests[0]!.receivedAt).toBeGreaterThanOrEqual(950);
    const cappedWait = capped.requests[1]!.receivedAt - capped.requests[0]!.receivedAt;
    expect(cappedWait).toBeGreaterThanOrEqual(1450);
    expect(cappedWait).toBeLessThan(10_000);
  });

  it('410 Gone disables the endpoint at once with the reason, announced on endpointStatusChanged; nothing more is sent', async () => {
    const gone = await receiver(() => ({ status: 410, body: 'unsubscribed' }));
    const applicationId = await application();
    const endpointId = await endpoint(applicationId, gone.url);
    const recorder = new SubscriptionRecorder<EndpointStatusChangedSubscription>(herald.wsClient(), EndpointStatusChangedDocument, {
      endpointId,
    });
    await recorder.ready;
    const event = await publish(applicationId);
    await waitForStatus(event.deliveries[0]!.id, 'DEAD');
    const [update] = await recorder.waitFor((all) => all.length > 0);
    recorder.stop();
    expect(update!.endpointStatusChanged).toMatchObject({ change: 'DISABLED', endpoint: { id: endpointId, enabled: false } });
    expect(update!.endpointStatusChanged.reason).toMatch(/410 Gone/);
    expect(await attempts(event.deliveries[0]!.id)).toHaveLength(1);
    const later = await publish(applicationId);
    expect(later.deliveries).toHaveLength(0);
    expect(gone.requests).toHaveLength(1);
  });

  it('a redirect is a failed attempt and is never followed', async () => {
    const redirecting = await receiver((request) =>
      request.path.endsWith('/elsewhere') ? { status: 200 } : { status: 302, headers: { location: `${redirecting.url}/elsewhere` } },
    );
    const applicationId = await application();
    await endpoint(applicationId, redirecting.url);
    const event = await publish(applicationId);
    await waitForStatus(event.deliveries[0]!.id, 'DEAD');
    const rows = await attempts(event.deliveries[0]!.id);
    expect(rows.map((row) => [row.response_status, row.error_kind])).toEqual(Array(5).fill([302, 'HTTP_STATUS']));
    expect(redirecting.requests.map((request) => request.path)).toEqual(Array(5).fill('/webhooks'));
  });

  it('classifies and retries each network failure: reset, refused connection, timeout, TLS', async () => {
    const resetting = await receiver(() => ({ status: 200, reset: true }));
    const hanging = await receiver(() => ({ status: 200, delayMs: 3000 }));
    const closedPort = await freePort();
    const applicationId = await application();
    const cases: Array<[string, string]> = [
      [await endpoint(applicationId, resetting.url), 'RESET'],
      [await endpoint(applicationId, `http://127.0.0.1:${closedPort}/webhooks`), 'CONNECT'],
      [await endpoint(applicationId, hanging.url), 'TIMEOUT'],
      // TLS spoken to a plain-HTTP port fails the handshake.
      [await endpoint(applicationId, resetting.url.replace('http://', 'https://').replace('/webhooks', '/tls')), 'TLS'],
    ];
    const event = await publish(applicationId);
    for (const [endpointId, kind] of cases) {
      const delivery = event.deliveries.find((d) => d.endpointId === endpointId)!;
      const rows = await waitUntil(
        () => attempts(delivery.id),
        (found) => found.length >= 2,
      );
      expect(rows.slice(0, 2).map((row) => row.error_kind)).toEqual([kind, kind]);
    }
  });

  it('disables an endpoint after 3 dead letters in a row; enableEndpoint(redeliverMissed) brings back what it missed', async () => {
    let healthy = false;
    const target = await receiver(() => (healthy ? { status: 200 } : { status: 500 }));
    const applicationId = await application();
    const endpointId = await endpoint(applicationId, target.url);
    const recorder = new SubscriptionRecorder<EndpointStatusChangedSubscription>(herald.wsClient(), EndpointStatusChangedDocument, {
      applicationId,
    });
    await recorder.ready;
    const failed = [await publish(applicationId, { n: 1 }), await publish(applicationId, { n: 2 }), await publish(applicationId, { n: 3 })];
    const [disabled] = await recorder.waitFor((all) => all.length > 0, 20_000);
    expect(disabled!.endpointStatusChanged).toMatchObject({ change: 'DISABLED', endpoint: { id: endpointId, enabled: false } });
    expect(disabled!.endpointStatusChanged.reason).toMatch(/3 deliveries in a row/);
    for (const event of failed) expect(await deliveryStatus(event.deliveries[0]!.id)).toBe('DEAD');

    const missed = await publish(applicationId, { n: 4 });
    expect(missed.deliveries).toHaveLength(0);
    healthy = true;
    const { enableEndpoint } = await herald.call(EnableEndpointDocument, { id: endpointId, redeliverMissed: true });
    expect(enableEndpoint).toMatchObject({ enabled: true, disabledReason: null, consecutiveFailures: 0, consecutiveDeadLetters: 0 });
    await recorder.waitFor((all) => all.some((u) => u.endpointStatusChanged.change === 'ENABLED'));
    recorder.stop();
    await waitUntil(
      () =>
        query<{ count: string }>(database.url, "select count(*) from deliveries where endpoint_id = $1 and status = 'SUCCEEDED'", [
          endpointId,
        ]),
      (rows) => Number(rows[0]!.count) === 4,
    );
    const received = new Set(target.requests.filter((_r, i) => i >= 15).map((request) => request.headers['webhook-id']));
    expect(received).toEqual(new Set([...failed.map((event) => event.id), missed.id]));
  });

  it('FIFO: an ordered endpoint gets each event only after the previous one succeeded, retries included, with sequence numbers', async () => {
    const seen = new Set<string>();
    // Every event fails on its first attempt and succeeds on its second.
    const target = await receiver((request) => {
      const id = String(request.headers['webhook-id']);
      if (seen.has(id)) return { status: 200 };
      seen.add(id);
      return { status: 500 };
    });
    const applicationId = await application();
    await endpoint(applicationId, target.url, { ordered: true });
    const published: string[] = [];
    for (let i = 0; i < 6; i++) published.push((await publish(applicationId, { i })).id);
    await target.waitForRequests(12, 20_000);
    const order = target.requests.map((request) => request.headers['webhook-id']);
    expect(order).toEqual(published.flatMap((id) => [id, id]));
    expect(target.requests.map((request) => request.headers['webhook-sequence'])).toEqual([
      '1',
      '1',
      '2',
      '2',
      '3',
      '3',
      '4',
      '4',
      '5',
      '5',
      '6',
      '6',
    ]);
  });

  it('FIFO per orderingKey on an unordered endpoint: the events of each key arrive in publish order, retries included', async () => {
    const seen = new Set<string>();
    const target = await receiver((request) => {
      const id = String(request.headers['webhook-id']);
      if (seen.has(id)) return { status: 200 };
      seen.add(id);
      return { status: 500 };
    });
    const applicationId = await application();
    await endpoint(applicationId, target.url);
    const keyed: Record<string, string[]> = { a: [], b: [] };
    for (let i = 0; i < 4; i++) {
      for (const key of ['a', 'b']) keyed[key]!.push((await publish(applicationId, { i, key }, key)).id);
    }
    await target.waitForRequests(16, 20_000);
    for (const key of ['a', 'b']) {
      const ids = target.requests.map((request) => String(request.headers['webhook-id'])).filter((id) => keyed[key]!.includes(id));
      expect(ids).toEqual(keyed[key]!.flatMap((id) => [id, id]));
    }
  });

  it('reads at most the configured response body: a receiver streaming without end is cut off', async () => {
    let written = 0;
    let closed = false;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      const pump = () => {
        while (!closed && written < 1024 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => (closed = true));
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    receivers.push({
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      },
    });
    const applicationId = await application();
    await endpoint(applicationId, `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`);
    const event = await publish(applicationId);
    await waitForStatus(event.deliveries[0]!.id, 'SUCCEEDED');
    const [attempt] = await attempts(event.deliveries[0]!.id);
    expect(attempt!.response_body_truncated).toBe(true);
    expect(attempt!.response_body).toHaveLength(herald.config.delivery.responseBodyMaxBytes);
    await waitUntil(
      async () => closed,
      (value) => value,
    );
    // The connection was dropped after the cap, far short of the gigabyte the receiver would send.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('retention purges old finished events in batches, with their deliveries and attempts, and keeps unfinished ones', async () => {
    const target = await receiver();
    const applicationId = await application();
    await endpoint(applicationId, target.url);
    const events = [];
    for (let i = 0; i < 5; i++) events.push(await publish(applicationId, { i }));
    await waitUntil(
      () =>
        query<{ count: string }>(database.url, "select count(*) from deliveries where application_id = $1 and status = 'SUCCEEDED'", [
          applicationId,
        ]),
      (rows) => Number(rows[0]!.count) === 5,
    );
    const ids = events.map((event) => event.id);
    await query(database.url, "update events set created_at = now() - interval '40 days' where id = any($1)", [ids]);
    // One of them still has a delivery waiting for a retry: it stays.
    await query(database.url, "update deliveries set status = 'FAILED' where event_id = $1", [ids[0]]);
    const result = await new RetentionService(herald.handle.database.orm.em.fork()).purge({
      olderThan: new Date(Date.now() - 30 * 86_400_000),
      batchSize: 2,
    });
    expect(result).toEqual({ events: 4, batches: 3 });
    const left = await query<{ id: string }>(database.url, 'select id from events where id = any($1)', [ids]);
    expect(left.map((row) => row.id)).toEqual([ids[0]]);
    const orphans = await query<{ count: string }>(
      database.url,
      'select count(*) from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.event_id = any($1)',
      [ids.slice(1)],
    );
    expect(Number(orphans[0]!.count)).toBe(0);
  });
});
