import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeadLettersDocument,
  DeliveriesDocument,
  DeliveryDocument,
  type DeliveryUpdatedSubscription,
  DeliveryUpdatedDocument,
  EventDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  RetryDeliveryDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { attemptStartTimes, waitForJobsGone } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, waitUntil } from '../helpers/herald';
import { type ReceiverBehaviour, WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

describe('Herald core: publish, deliver signed, retry, dead-letter, stream', () => {
  let database: { url: string };
  let herald: TestHerald;
  const receivers: WebhookReceiver[] = [];

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function receiver(behaviour?: ReceiverBehaviour) {
    const started = await WebhookReceiver.start(behaviour);
    receivers.push(started);
    return started;
  }

  /** Each test publishes into its own application, so endpoints of other tests never match. */
  let applicationId: string;
  beforeEach(async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'core test' } });
    applicationId = createApplication.id;
  });

  async function register(url: string, eventTypes?: string[]) {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { url, eventTypes, applicationId } });
    return registerEndpoint;
  }

  async function publish(type: string, data: Record<string, unknown>) {
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { type, data, applicationId } });
    return publishEvent;
  }

  async function deliveryOf(eventId: string) {
    const { deliveries } = await herald.call(DeliveriesDocument, { filter: { eventId } });
    expect(deliveries.nodes).toHaveLength(1);
    return deliveries.nodes[0]!;
  }

  it('delivers one signed POST that verifies with the standardwebhooks package and as hex HMAC, and streams the outcome', async () => {
    const target = await receiver();
    const { endpoint, secret } = await register(target.url, ['order.*']);
    expect(secret).toMatch(/^whsec_/);

    const subscription = new SubscriptionRecorder<DeliveryUpdatedSubscription>(herald.wsClient(), DeliveryUpdatedDocument, {
      endpointId: endpoint.id,
    });
    await subscription.ready;

    const data = { orderId: 'ORD-123456', amount: 99.99, items: [{ productId: 'PROD-001', quantity: 2 }], zeta: 1, alpha: 2 };
    const publishEvent = await publish('order.created', data);
    expect(publishEvent.id).toMatch(/^evt_/);
    expect(publishEvent.deliveries).toHaveLength(1);

    const [request] = await target.waitForRequests(1);
    const headers = request!.headers as Record<string, string>;
    expect(request!.method).toBe('POST');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toMatch(/^Herald/);
    expect(headers['webhook-id']).toBe(publishEvent.id);
    expect(headers['x-webhook-id']).toBe(publishEvent.id);
    expect(headers['x-webhook-attempt']).toBe('1');

    // Standard Webhooks, verified by an independent implementation.
    const verified = new Webhook(secret).verify(request!.body, headers);
    expect(verified).toMatchObject({ id: publishEvent.id, event: 'order.created' });
    expect(() => new Webhook(secret).verify(request!.body.replace('99.99', '0.01'), headers)).toThrow();

    // The seed design's header: hex HMAC-SHA256 of the exact body bytes.
    const hex = createHmac('sha256', secret).update(request!.body).digest('hex');
    expect(headers['x-webhook-signature']).toBe(hex);

    // The seed envelope, with the data byte for byte as published (key order kept).
    const envelope = JSON.parse(request!.body) as Record<string, unknown>;
    expect(Object.keys(envelope)).toEqual(['id', 'timestamp', 'event', 'version', 'data', 'attempt', 'retryable']);
    expect(envelope).toMatchObject({ id: publishEvent.id, event: 'order.created', version: '1.0', data, attempt: 1, retryable: true });
    expect(request!.body).toContain(JSON.stringify(data));

    const updates = await subscription.waitFor((all) => all.some((u) => u.deliveryUpdated.delivery.status === 'SUCCEEDED'));
    const success = updates.find((u) => u.deliveryUpdated.delivery.status === 'SUCCEEDED')!.deliveryUpdated;
    expect(success.delivery.eventId).toBe(publishEvent.id);
    expect(success.attempt).toMatchObject({ number: 1, responseStatus: 200, errorKind: null });
    subscription.stop();

    const { delivery } = await herald.call(DeliveryDocument, { id: success.delivery.id });
    expect(delivery).toMatchObject({ status: 'SUCCEEDED', attemptCount: 1, lastStatusCode: 200, endpointId: endpoint.id });
    expect(delivery.attempts).toHaveLength(1);
    expect(delivery.attempts[0]).toMatchObject({ number: 1, responseStatus: 200, responseBody: '{"received":true}', errorKind: null });
    expect(delivery.attempts[0]!.requestHeaders['webhook-signature']).toBe('[redacted]');
    expect(JSON.stringify(delivery)).not.toContain(secret);
    expect(delivery.event.data).toEqual(data);

    // Nothing secret reached the logs: not the secret, not either signature.
    const logs = herald.logs.join('\n');
    expect(logs).toContain(success.delivery.id);
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(secret.slice('whsec_'.length));
    expect(logs).not.toContain(headers['webhook-signature']!.slice(3));
    expect(logs).not.toContain(hex);
  });

  it('retries a receiver that fails 4 times: exactly 5 requests, succeeded with 5 attempts', async () => {
    const target = await receiver((_request, index) => (index < 4 ? { status: 500, body: 'try later' } : { status: 204 }));
    await register(target.url);
    const publishEvent = await publish('payment.succeeded', { paymentId: 'pay_1' });

    const delivery = await waitUntil(
      () => deliveryOf(publishEvent.id),
      (d) => d.status === 'SUCCEEDED',
    );
    expect(delivery.attemptCount).toBe(5);
    // Once its job is gone no further attempt can be made: what the receiver has now is all it gets.
    await waitForJobsGone(database.url, [`deliver:${delivery.id}`]);
    expect(target.requests).toHaveLength(5);
    expect(target.requests.map((r) => r.headers['x-webhook-attempt'])).toEqual(['1', '2', '3', '4', '5']);
    expect(new Set(target.requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([publishEvent.id]));
    expect(JSON.parse(target.requests[4]!.body)).toMatchObject({ attempt: 5, retryable: false });

    const { delivery: detail } = await herald.call(DeliveryDocument, { id: delivery.id });
    expect(detail.attempts.map((a) => [a.number, a.responseStatus, a.errorKind])).toEqual([
      [1, 500, 'HTTP_STATUS'],
      [2, 500, 'HTTP_STATUS'],
      [3, 500, 'HTTP_STATUS'],
      [4, 500, 'HTTP_STATUS'],
      [5, 204, null],
    ]);
    expect(detail.attempts[0]!.responseBody).toBe('try later');
    // Backoff grows: each gap at least the jittered exponential delay (100 ms base here, -20%), between the
    // attempts' start times as Herald recorded them.
    const times = await attemptStartTimes(database.url, { deliveryId: delivery.id });
    expect(times).toHaveLength(5);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(80 * 2 ** (i - 1) - 20);
  });

  it('dead-letters a delivery after the configured attempts; retryDelivery delivers it once the receiver recovers', async () => {
    let healthy = false;
    const target = await receiver(() => (healthy ? { status: 200 } : { status: 503 }));
    const { endpoint } = await register(target.url);
    const publishEvent = await publish('invoice.issued', { invoiceId: 'INV-1', n: 1 });

    const dead = await waitUntil(
      () => deliveryOf(publishEvent.id),
      (d) => d.status === 'DEAD',
    );
    expect(dead).toMatchObject({ attemptCount: 5, lastStatusCode: 503, lastErrorKind: 'HTTP_STATUS', nextAttemptAt: null });
    expect(target.requests).toHaveLength(5);

    const { deadLetters } = await herald.call(DeadLettersDocument, { filter: { endpointId: endpoint.id } });
    expect(deadLetters.nodes.map((d) => d.id)).toEqual([dead.id]);

    healthy = true;
    const { retryDelivery } = await herald.call(RetryDeliveryDocument, { id: dead.id });
    expect(retryDelivery.status).toBe('PENDING');
    const delivered = await waitUntil(
      () => deliveryOf(publishEvent.id),
      (d) => d.status === 'SUCCEEDED',
    );
    expect(delivered.attemptCount).toBe(6);
    expect(target.requests).toHaveLength(6);
    const { deadLetters: after } = await herald.call(DeadLettersDocument, { filter: { endpointId: endpoint.id } });
    expect(after.nodes).toHaveLength(0);
  });

  it('fans out only to enabled endpoints whose filters match, and the event shows its deliveries', async () => {
    const orders = await receiver();
    const everything = await receiver();
    const payments = await receiver();
    await register(orders.url, ['order.*']);
    await register(everything.url);
    await register(payments.url, ['payment.succeeded', 'payment.failed']);

    const publishEvent = await publish('order.cancelled', { orderId: 'o1' });
    expect(publishEvent.deliveries).toHaveLength(2);
    await orders.waitForRequests(1);
    await everything.waitForRequests(1);
    const { event } = await herald.call(EventDocument, { id: publishEvent.id });
    expect(event.deliveries.map((d) => d.endpointId).sort()).toHaveLength(2);
    expect(payments.requests).toHaveLength(0);
  });
});
