import { afterAll, describe, expect, it } from 'vitest';
import { CreateApplicationDocument, PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { verifyWebhook } from '../../src/sdk';
import { type HeraldProcess, runHerald, spawnHerald } from '../helpers/cli';
import { heraldTestWith } from '../helpers/fixtures';
import { type TestHerald, waitUntil, watchSubscriptionStarts } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

describe('developer CLI: herald listen | trigger | endpoints | events | deliveries (child processes)', { timeout: 90_000 }, () => {
  let herald: TestHerald;
  let local: WebhookReceiver;
  let endpointReceiver: WebhookReceiver;
  let applicationId: string;
  let endpointId: string;
  const listeners: HeraldProcess[] = [];

  heraldFile.beforeAll(async ({ herald: fileHerald }) => {
    herald = fileHerald;
    local = await WebhookReceiver.start();
    endpointReceiver = await WebhookReceiver.start();
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'cli' } });
    applicationId = createApplication.id;
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: endpointReceiver.url, eventTypes: ['order.*'], description: 'orders' },
    });
    endpointId = registerEndpoint.endpoint.id;
  });
  afterAll(async () => {
    for (const listener of listeners) listener.child.kill('SIGTERM');
    await Promise.all(listeners.map((listener) => listener.exited));
    await local?.close();
    await endpointReceiver?.close();
  });

  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

  it('`herald listen` forwards a published event, signed, to a local server within 1 s and prints the outcome', async () => {
    const subscriptions = watchSubscriptionStarts();
    const listener = spawnHerald('listen', { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey }, [
      '--forward-to',
      local.url,
      '--endpoint',
      endpointId,
      '--secret',
      secret,
    ]);
    listeners.push(listener);
    await listener.waitForLog(/^Ready\. Forwarding order\.\* to/);
    // "Ready" is printed once the subscribe message is sent: wait for Herald to have started it.
    await subscriptions.started(1);
    subscriptions.stop();

    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'order.created', data: { orderId: 'ORD-CLI', amount: 5 } },
    });
    const [request] = await local.waitForRequests(1, 5000);
    // From the event's creation inside the publish transaction to the local server receiving it.
    const latencyMs = request!.receivedAt - Date.parse(publishEvent.createdAt);
    console.log(`herald listen: publish -> local server in ${latencyMs} ms`);
    expect(latencyMs).toBeLessThan(1000);

    const verified = verifyWebhook(request!.body, request!.headers as Record<string, string>, { secrets: secret });
    expect(verified.id).toBe(publishEvent.id);
    expect(verified.payload).toMatchObject({
      id: publishEvent.id,
      event: 'order.created',
      data: { orderId: 'ORD-CLI', amount: 5 },
      attempt: 1,
    });
    const printed = await listener.waitForLog(new RegExp(`order\\.created\\s+${publishEvent.id}\\s+-> 200`), 5000);
    expect(printed).toMatch(/\(\d+ ms\)/);

    // The endpoint's filter (order.*) applies: a payment event is not forwarded.
    await herald.call(PublishEventDocument, { input: { applicationId, type: 'payment.succeeded', data: { paymentId: 'P-CLI' } } });
    await herald.call(PublishEventDocument, { input: { applicationId, type: 'order.updated', data: { orderId: 'ORD-CLI' } } });
    await local.waitForRequests(2, 5000);
    expect(local.requests.map((r) => (JSON.parse(r.body) as { event: string }).event)).toEqual(['order.created', 'order.updated']);
  });

  it('`herald listen --json` prints one JSON outcome per forward, including a failing local server', async () => {
    const failing = await WebhookReceiver.start(() => ({ status: 500, body: 'boom' }));
    const subscriptions = watchSubscriptionStarts();
    try {
      const listener = spawnHerald('listen', { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey }, [
        '--forward-to',
        failing.url,
        '--application',
        applicationId,
        '--json',
      ]);
      listeners.push(listener);
      const ready = JSON.parse(await listener.waitForLog(/"ready":true/)) as { secret: string };
      expect(ready.secret).toMatch(/^whsec_/);
      await subscriptions.started(1);
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { applicationId, type: 'user.registered', data: { userId: 'U-1' } },
      });
      const line = await listener.waitForLog(new RegExp(publishEvent.id), 5000);
      expect(JSON.parse(line)).toMatchObject({
        eventId: publishEvent.id,
        type: 'user.registered',
        status: 500,
        ok: false,
        responseBody: 'boom',
      });
    } finally {
      subscriptions.stop();
      await failing.close();
    }
  });

  it('`herald trigger <type>` publishes the catalog example, and --data overrides it', async () => {
    const result = await runHerald(['trigger', 'order.created', '--application', applicationId, '--json'], {
      HERALD_URL: herald.url,
      HERALD_API_KEY: herald.adminKey,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const event = JSON.parse(result.stdout) as { id: string; type: string; data: Record<string, unknown>; deliveries: unknown[] };
    expect(event).toMatchObject({ type: 'order.created', data: { orderId: 'ORD-123456', currency: 'USD' } });
    expect(event.deliveries).toHaveLength(1);
    await endpointReceiver.waitForRequests(1);

    const plain = await runHerald(['trigger', 'order.cancelled', '--application', applicationId, '--url', herald.url], {
      HERALD_API_KEY: herald.adminKey,
    });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^Published order\.cancelled evt_[0-9a-z]+ \(version 1\.0\) to 1 endpoint\(s\)\./);

    const custom = await runHerald(['trigger', 'custom.thing', '--data', '{"a":1}', '--application', applicationId, '--json'], {
      HERALD_URL: herald.url,
      HERALD_API_KEY: herald.adminKey,
    });
    expect(JSON.parse(custom.stdout)).toMatchObject({ type: 'custom.thing', data: { a: 1 } });

    const unknown = await runHerald(['trigger', 'custom.thing'], { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not in the catalog.*--data/);

    const invalid = await runHerald(['trigger', 'order.created', '--data', '{"amount":"ten"}'], {
      HERALD_URL: herald.url,
      HERALD_API_KEY: herald.adminKey,
    });
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/BAD_USER_INPUT/);
    expect(invalid.stderr).toMatch(/data\/orderId is required/);
  });

  it('`herald endpoints | events | deliveries | event-types` print readable tables, and JSON with --json', async () => {
    const env = { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey };
    const endpoints = await runHerald(['endpoints', '--application', applicationId], env);
    expect(endpoints.code).toBe(0);
    const [header, rule, row] = endpoints.stdout.trim().split('\n');
    expect(header).toMatch(/^ID\s+URL\s+EVENT TYPES\s+ENABLED\s+FAILURES\s+DESCRIPTION$/);
    expect(rule).toMatch(/^-+\s+-+/);
    expect(row).toContain(endpointId);
    expect(row).toContain('order.*');

    const endpointsJson = JSON.parse((await runHerald(['endpoints', '--application', applicationId, '--json'], env)).stdout) as Array<{
      id: string;
    }>;
    expect(endpointsJson.map((e) => e.id)).toEqual([endpointId]);

    const events = await runHerald(['events', '--application', applicationId, '--type', 'order.created'], env);
    expect(events.stdout).toMatch(/^ID\s+TYPE\s+VERSION\s+CREATED/);
    expect(events.stdout).toContain('order.created');
    expect(events.stdout).not.toContain('payment.succeeded');

    await waitUntil(
      async () =>
        JSON.parse((await runHerald(['deliveries', '--endpoint', endpointId, '--json'], env)).stdout) as Array<{ status: string }>,
      (rows) => rows.length >= 3 && rows.every((d) => d.status === 'SUCCEEDED'),
    );
    const deliveries = await runHerald(['deliveries', '--endpoint', endpointId, '--status', 'succeeded'], env);
    expect(deliveries.stdout).toMatch(/^ID\s+STATUS\s+EVENT TYPE\s+ENDPOINT/);
    expect(deliveries.stdout).toMatch(/SUCCEEDED\s+order\.created/);

    const types = await runHerald(['event-types'], env);
    for (const name of [
      'order.created',
      'order.updated',
      'order.cancelled',
      'payment.succeeded',
      'payment.failed',
      'user.registered',
      'user.updated',
      'invoice.issued',
      'shipment.created',
      'refund.processed',
    ]) {
      expect(types.stdout).toContain(name);
    }
  });

  it('explains a bad command line or an unreachable Herald', async () => {
    const unreachable = await runHerald(['events', '--url', 'http://127.0.0.1:59999'], { HERALD_API_KEY: herald.adminKey });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/Cannot reach Herald at http:\/\/127\.0\.0\.1:59999/);
    const badFlag = await runHerald(['events', '--nope'], { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey });
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/Unknown option '--nope'/);
    const noTarget = await runHerald(['listen'], { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey });
    expect(noTarget.code).toBe(2);
    expect(noTarget.stderr).toMatch(/--forward-to/);
  });
});
