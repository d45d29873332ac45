import { randomBytes } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeleteEndpointDocument,
  DeliveriesDocument,
  DeliveryDocument,
  type DeliveryUpdatedSubscription,
  DeliveryUpdatedDocument,
  DisableEndpointDocument,
  EnableEndpointDocument,
  EndpointDocument,
  EndpointsDocument,
  EventPublishedDocument,
  type EventPublishedSubscription,
  PublishEventDocument,
  RegisterEndpointDocument,
  type RegisterEndpointMutationVariables,
  RotateEndpointSecretDocument,
  SendTestEventDocument,
  UpdateEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { type ReceiverBehaviour, WebhookReceiver } from '../helpers/receiver';

describe('Endpoint management through the GraphQL API', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // Two attempts make a dead letter quickly; every other test here succeeds on the first attempt.
    herald = await startTestHerald(database.url, {
      config: { delivery: { ...testConfig(database.url).delivery, retry: { ...testConfig(database.url).delivery.retry, maxAttempts: 2 } } },
    });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function receiver(behaviour?: ReceiverBehaviour) {
    const started = await WebhookReceiver.start(behaviour);
    receivers.push(started);
    return started;
  }

  /** Each test works in its own application, so it never sees another test's endpoints. */
  async function newApplication(name = 'endpoints test'): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name } });
    return createApplication.id;
  }

  async function register(input: RegisterEndpointMutationVariables['input']) {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input });
    return registerEndpoint;
  }

  const seedIds = { orderId: 'O-1', paymentId: 'P-1' };

  async function publish(applicationId: string, type: string, data: Record<string, unknown> = { n: 1 }) {
    // The seed catalog's schemas require each type's id field (orderId, paymentId): supply one if missing.
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type, data: { ...seedIds, ...data } } });
    return publishEvent;
  }

  /** GraphQL errors of an operation expected to fail, as [code, message] pairs. */
  async function errorsOf<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables) {
    const result = await herald.request(document, variables);
    expect(result.data ?? null).toBeNull();
    return (result.errors ?? []).map((error) => [error.extensions?.code, error.message, error.extensions?.field] as const);
  }

  it('returns the secret once, never lists it, sends custom headers and redacts credential-like ones', async () => {
    const applicationId = await newApplication();
    const target = await receiver();
    const { endpoint, secret } = await register({
      applicationId,
      url: target.url,
      eventTypes: ['order.*'],
      description: 'orders',
      headers: { 'X-Tenant': 'acme', Authorization: 'Bearer s3cr3t-token', 'X-Api-Key': 'key-123456' },
    });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    expect(endpoint).toMatchObject({ applicationId, url: target.url, eventTypes: ['order.*'], description: 'orders', enabled: true });
    const shownHeaders = { 'x-tenant': 'acme', authorization: '[redacted]', 'x-api-key': '[redacted]' };
    expect(endpoint.headers).toEqual(shownHeaders);

    const secretKey = secret.slice('whsec_'.length);
    const { endpoints } = await herald.call(EndpointsDocument, { filter: { applicationId } });
    const { endpoint: single } = await herald.call(EndpointDocument, { id: endpoint.id });
    for (const listing of [endpoints, single]) {
      const json = JSON.stringify(listing);
      expect(json).toContain(endpoint.id);
      expect(json).not.toContain(secretKey);
      expect(json).not.toContain('s3cr3t-token');
      expect(json).not.toContain('key-123456');
    }
    expect(endpoints.nodes.map((node) => node.headers)).toEqual([shownHeaders]);
    expect(single.headers).toEqual(shownHeaders);
    // Endpoint has no secret field at all: the secret cannot be asked for again.
    const asked = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${herald.adminKey}` },
      body: JSON.stringify({ query: `{ endpoint(id: "${endpoint.id}") { id secret } }` }),
    });
    const askedBody = (await asked.json()) as { errors: Array<{ extensions: { code: string } }> };
    expect(askedBody.errors[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const event = await publish(applicationId, 'order.created', { orderId: 'A-1' });
    expect(event.deliveries).toHaveLength(1);
    const [request] = await target.waitForRequests(1);
    expect(request!.headers).toMatchObject({ 'x-tenant': 'acme', authorization: 'Bearer s3cr3t-token', 'x-api-key': 'key-123456' });
    expect(new Webhook(secret).verify(request!.body, request!.headers as Record<string, string>)).toMatchObject({ id: event.id });

    const delivered = await waitUntil(
      () => herald.call(DeliveryDocument, { id: event.deliveries[0]!.id }),
      ({ delivery }) => delivery.status === 'SUCCEEDED',
    );
    const requestHeaders = delivered.delivery.attempts[0]!.requestHeaders as Record<string, string>;
    expect(requestHeaders).toMatchObject({ 'x-tenant': 'acme', authorization: '[redacted]', 'x-api-key': '[redacted]' });
    const deliveryJson = JSON.stringify(delivered);
    expect(deliveryJson).not.toContain('s3cr3t-token');
    expect(deliveryJson).not.toContain('key-123456');
    expect(deliveryJson).not.toContain(secretKey);

    // Headers Herald sets itself cannot be overridden, whatever their case, on register or update.
    for (const name of ['webhook-id', 'Content-Type', 'X-Webhook-Signature', 'webhook-signature', 'host', 'user-agent']) {
      const errors = await errorsOf(RegisterEndpointDocument, { input: { applicationId, url: target.url, headers: { [name]: 'x' } } });
      expect(errors).toEqual([['BAD_USER_INPUT', `The header "${name}" is set by Herald and cannot be overridden.`, 'headers']]);
    }
    const updateErrors = await errorsOf(UpdateEndpointDocument, { id: endpoint.id, input: { headers: { 'webhook-id': 'x' } } });
    expect(updateErrors).toEqual([['BAD_USER_INPUT', 'The header "webhook-id" is set by Herald and cannot be overridden.', 'headers']]);
    const { endpoints: after } = await herald.call(EndpointsDocument, { filter: { applicationId } });
    expect(after.nodes.map((node) => [node.id, node.headers])).toEqual([[endpoint.id, shownHeaders]]);
  });

  it('signs with a valid user-supplied whsec_ secret and refuses an invalid one', async () => {
    const applicationId = await newApplication();
    const target = await receiver();
    const mine = `whsec_${randomBytes(32).toString('base64')}`;
    const { endpoint, secret } = await register({ applicationId, url: target.url, secret: mine });
    expect(secret).toBe(mine);

    const event = await publish(applicationId, 'invoice.paid', { invoice: 'INV-9' });
    const [request] = await target.waitForRequests(1);
    const headers = request!.headers as Record<string, string>;
    expect(new Webhook(mine).verify(request!.body, headers)).toMatchObject({
      id: event.id,
      event: 'invoice.paid',
      data: { invoice: 'INV-9' },
    });
    expect(() => new Webhook(`whsec_${randomBytes(32).toString('base64')}`).verify(request!.body, headers)).toThrow();

    for (const invalid of [
      'not-a-secret',
      'whsec_',
      'whsec_short',
      `whsec_${randomBytes(16).toString('base64')}`, // too few bytes
      `whsec_${randomBytes(65).toString('base64')}`, // too many bytes
      `whsec_${randomBytes(32).toString('base64')}!`,
      randomBytes(32).toString('base64'), // no prefix
    ]) {
      const errors = await errorsOf(RegisterEndpointDocument, { input: { applicationId, url: target.url, secret: invalid } });
      expect(errors, invalid).toHaveLength(1);
      expect(errors[0]![0]).toBe('BAD_USER_INPUT');
      expect(errors[0]![1]).toMatch(/"secret" must be "whsec_" followed by the base64 of 24 to 64 random bytes/);
      expect(errors[0]![2]).toBe('secret');
    }
    const { endpoints } = await herald.call(EndpointsDocument, { filter: { applicationId } });
    expect(endpoints.nodes.map((node) => node.id)).toEqual([endpoint.id]);
  });

  it('updateEndpoint changes url, event-type filters and description, and the next events follow them', async () => {
    const applicationId = await newApplication();
    const first = await receiver();
    const second = await receiver();
    const { endpoint } = await register({ applicationId, url: first.url, eventTypes: ['order.*'], description: 'orders' });

    expect((await publish(applicationId, 'order.created')).deliveries).toHaveLength(1);
    expect((await publish(applicationId, 'payment.succeeded')).deliveries).toHaveLength(0);
    await first.waitForRequests(1);

    const { updateEndpoint } = await herald.call(UpdateEndpointDocument, {
      id: endpoint.id,
      input: { url: second.url, eventTypes: ['payment.*'], description: 'payments' },
    });
    expect(updateEndpoint).toMatchObject({ id: endpoint.id, url: second.url, eventTypes: ['payment.*'], description: 'payments' });
    const { endpoint: reread } = await herald.call(EndpointDocument, { id: endpoint.id });
    expect(reread).toMatchObject({ url: second.url, eventTypes: ['payment.*'], description: 'payments', enabled: true });
    expect(new Date(reread.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(reread.createdAt).getTime());

    expect((await publish(applicationId, 'order.created')).deliveries).toHaveLength(0);
    const payment = await publish(applicationId, 'payment.succeeded', { paymentId: 'P-1' });
    expect(payment.deliveries.map((d) => d.endpointId)).toEqual([endpoint.id]);
    const [request] = await second.waitForRequests(1);
    expect(JSON.parse(request!.body)).toMatchObject({ id: payment.id, event: 'payment.succeeded', data: { paymentId: 'P-1' } });
    // Its one delivery has succeeded (no further attempt follows) at the second receiver: none can reach the first.
    await waitUntil(
      () => herald.call(DeliveryDocument, { id: payment.deliveries[0]!.id }),
      ({ delivery }) => delivery.status === 'SUCCEEDED',
    );
    expect(first.requests).toHaveLength(1);
    expect(JSON.parse(first.requests[0]!.body)).toMatchObject({ event: 'order.created' });

    // Fields left out stay as they are; an invalid filter is refused and changes nothing.
    const { updateEndpoint: partial } = await herald.call(UpdateEndpointDocument, {
      id: endpoint.id,
      input: { description: 'still payments' },
    });
    expect(partial).toMatchObject({ url: second.url, eventTypes: ['payment.*'], description: 'still payments' });
    const errors = await errorsOf(UpdateEndpointDocument, { id: endpoint.id, input: { eventTypes: ['bad filter!'] } });
    expect(errors[0]?.[0]).toBe('BAD_USER_INPUT');
    expect(errors[0]?.[2]).toBe('eventTypes');
    const { endpoint: unchanged } = await herald.call(EndpointDocument, { id: endpoint.id });
    expect(unchanged.eventTypes).toEqual(['payment.*']);
  });

  it('a disabled endpoint gets no deliveries for new events; enabling it brings it back and clears the reason', async () => {
    const applicationId = await newApplication();
    const target = await receiver();
    const other = await receiver();
    const { endpoint } = await register({ applicationId, url: target.url });
    const { endpoint: otherEndpoint } = await register({ applicationId, url: other.url });

    const { disableEndpoint } = await herald.call(DisableEndpointDocument, { id: endpoint.id, reason: 'maintenance window' });
    expect(disableEndpoint).toMatchObject({ id: endpoint.id, enabled: false, disabledReason: 'maintenance window' });
    expect(disableEndpoint.disabledAt).not.toBeNull();
    const { endpoints: disabled } = await herald.call(EndpointsDocument, { filter: { applicationId, enabled: false } });
    expect(disabled.nodes.map((node) => node.id)).toEqual([endpoint.id]);

    const whileDisabled = await publish(applicationId, 'order.created');
    expect(whileDisabled.deliveries.map((d) => d.endpointId)).toEqual([otherEndpoint.id]);
    await other.waitForRequests(1);
    const { deliveries } = await herald.call(DeliveriesDocument, { filter: { endpointId: endpoint.id } });
    expect(deliveries.nodes).toEqual([]);

    const { enableEndpoint } = await herald.call(EnableEndpointDocument, { id: endpoint.id });
    expect(enableEndpoint).toMatchObject({ id: endpoint.id, enabled: true, disabledReason: null, disabledAt: null });
    const { endpoint: reread } = await herald.call(EndpointDocument, { id: endpoint.id });
    expect(reread).toMatchObject({ enabled: true, disabledReason: null, disabledAt: null });

    const afterEnable = await publish(applicationId, 'order.updated');
    expect(afterEnable.deliveries.map((d) => d.endpointId).sort()).toEqual([endpoint.id, otherEndpoint.id].sort());
    const [request] = await target.waitForRequests(1);
    expect(JSON.parse(request!.body)).toMatchObject({ id: afterEnable.id, event: 'order.updated' });
    expect(target.requests).toHaveLength(1);

    // Without a reason, one is filled in.
    const { disableEndpoint: noReason } = await herald.call(DisableEndpointDocument, { id: endpoint.id });
    expect(noReason.disabledReason).toBe('Disabled by a user');
  });

  it('rotateEndpointSecret without a grace period: the next delivery verifies with the new secret and not the old one', async () => {
    const applicationId = await newApplication();
    const target = await receiver();
    const { endpoint, secret: oldSecret } = await register({ applicationId, url: target.url });

    await publish(applicationId, 'order.created', { step: 1 });
    const [before] = await target.waitForRequests(1);
    expect(() => new Webhook(oldSecret).verify(before!.body, before!.headers as Record<string, string>)).not.toThrow();

    const { rotateEndpointSecret } = await herald.call(RotateEndpointSecretDocument, { id: endpoint.id, gracePeriodSeconds: 0 });
    const newSecret = rotateEndpointSecret.secret;
    expect(rotateEndpointSecret.endpoint.id).toBe(endpoint.id);
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(oldSecret);

    const event = await publish(applicationId, 'order.created', { step: 2 });
    const requests = await target.waitForRequests(2);
    const after = requests[1]!;
    const headers = after.headers as Record<string, string>;
    expect(new Webhook(newSecret).verify(after.body, headers)).toMatchObject({ id: event.id, data: { step: 2 } });
    expect(() => new Webhook(oldSecret).verify(after.body, headers)).toThrow();

    const { endpoint: listed } = await herald.call(EndpointDocument, { id: endpoint.id });
    expect(JSON.stringify(listed)).not.toContain(newSecret.slice('whsec_'.length));
  });

  it('deleteEndpoint returns the id; afterwards the endpoint is NOT_FOUND and gets no deliveries', async () => {
    const applicationId = await newApplication();
    const target = await receiver();
    const { endpoint } = await register({ applicationId, url: target.url });
    const { endpoint: kept } = await register({ applicationId, url: target.url, description: 'kept' });
    const published = await publish(applicationId, 'order.created');
    expect(published.deliveries).toHaveLength(2);
    await target.waitForRequests(2);

    const { deleteEndpoint } = await herald.call(DeleteEndpointDocument, { id: endpoint.id });
    expect(deleteEndpoint).toBe(endpoint.id);

    const missing = await herald.request(EndpointDocument, { id: endpoint.id });
    expect(missing.data).toBeNull();
    expect(missing.errors).toHaveLength(1);
    expect(missing.errors![0]).toMatchObject({
      message: `No endpoint with id "${endpoint.id}" exists.`,
      extensions: { code: 'NOT_FOUND' },
    });
    const again = await errorsOf(DeleteEndpointDocument, { id: endpoint.id });
    expect(again.map(([code]) => code)).toEqual(['NOT_FOUND']);

    const { endpoints } = await herald.call(EndpointsDocument, { filter: { applicationId } });
    expect(endpoints.nodes.map((node) => node.id)).toEqual([kept.id]);
    // Its deliveries went with it.
    const { deliveries } = await herald.call(DeliveriesDocument, { filter: { endpointId: endpoint.id } });
    expect(deliveries.nodes).toEqual([]);
    const next = await publish(applicationId, 'order.created');
    expect(next.deliveries.map((d) => d.endpointId)).toEqual([kept.id]);
  });

  it('sendTestEvent delivers a webhook.test envelope to one endpoint whatever its filters; a disabled endpoint gets ENDPOINT_DISABLED', async () => {
    const applicationId = await newApplication();
    const target = await receiver();
    const bystander = await receiver();
    const { endpoint, secret } = await register({ applicationId, url: target.url, eventTypes: ['order.*'] });
    await register({ applicationId, url: bystander.url }); // would match any type, but is not the target

    const { sendTestEvent } = await herald.call(SendTestEventDocument, { endpointId: endpoint.id });
    expect(sendTestEvent).toMatchObject({ endpointId: endpoint.id, applicationId, eventType: 'webhook.test' });
    expect(sendTestEvent.id).toMatch(/^dlv_/);

    const [request] = await target.waitForRequests(1);
    const envelope = new Webhook(secret).verify(request!.body, request!.headers as Record<string, string>);
    expect(envelope).toMatchObject({
      id: sendTestEvent.eventId,
      event: 'webhook.test',
      version: '1.0',
      data: { endpointId: endpoint.id },
      attempt: 1,
    });
    await waitUntil(
      () => herald.call(DeliveryDocument, { id: sendTestEvent.id }),
      ({ delivery }) => delivery.status === 'SUCCEEDED',
    );
    expect(bystander.requests).toHaveLength(0);

    await herald.call(DisableEndpointDocument, { id: endpoint.id, reason: 'paused' });
    const errors = await herald.request(SendTestEventDocument, { endpointId: endpoint.id });
    expect(errors.data).toBeNull();
    expect(errors.errors).toHaveLength(1);
    expect(errors.errors![0]!.extensions).toMatchObject({ code: 'ENDPOINT_DISABLED', id: endpoint.id });
    expect(errors.errors![0]!.message).toMatch(/is disabled \(paused\); enable it with enableEndpoint first/);
    expect(target.requests).toHaveLength(1);
  });

  it('pages through endpoints newest first: every endpoint exactly once, hasNextPage false at the end', async () => {
    const applicationId = await newApplication();
    const registered: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { endpoint } = await register({ applicationId, url: `http://127.0.0.1:9/hook-${i}`, description: `endpoint ${i}` });
      registered.push(endpoint.id);
    }

    const pages: Array<{ ids: string[]; hasNextPage: boolean }> = [];
    let after: string | undefined;
    for (let guard = 0; guard < 10; guard++) {
      const { endpoints } = await herald.call(EndpointsDocument, { filter: { applicationId }, page: { first: 2, after } });
      pages.push({ ids: endpoints.nodes.map((node) => node.id), hasNextPage: endpoints.pageInfo.hasNextPage });
      if (!endpoints.pageInfo.hasNextPage) break;
      expect(endpoints.pageInfo.endCursor).toEqual(expect.any(String));
      after = endpoints.pageInfo.endCursor!;
    }
    const newestFirst = [...registered].reverse();
    expect(pages).toEqual([
      { ids: newestFirst.slice(0, 2), hasNextPage: true },
      { ids: newestFirst.slice(2, 4), hasNextPage: true },
      { ids: newestFirst.slice(4), hasNextPage: false },
    ]);
    // One page holding everything says there is nothing more.
    const { endpoints: all } = await herald.call(EndpointsDocument, { filter: { applicationId }, page: { first: 5 } });
    expect(all.nodes.map((node) => node.id)).toEqual(newestFirst);
    expect(all.pageInfo.hasNextPage).toBe(false);
  });

  it('eventPublished over graphql-ws reports an event of the application it filters on, and not one of another', async () => {
    const applicationId = await newApplication('watched');
    const otherApplicationId = await newApplication('other');
    const recorder = new SubscriptionRecorder<EventPublishedSubscription>(herald.wsClient(), EventPublishedDocument, { applicationId });
    await recorder.ready;

    const foreign = await publish(otherApplicationId, 'order.created', { from: 'other' });
    const mine = await publish(applicationId, 'order.created', { from: 'watched', amount: 12.5 });
    // Notifications arrive in commit order: once ours is in, the other application's would have been too.
    // A later event of the watched application is the sentinel: whatever came before it has arrived.
    const sentinel = await publish(applicationId, 'order.created', { from: 'watched', sentinel: true });
    const all = await recorder.waitFor((seen) => seen.some((u) => u.eventPublished.id === sentinel.id));
    recorder.stop();
    const updates = all.filter((u) => u.eventPublished.id !== sentinel.id);

    expect(recorder.results.filter((result) => result.errors)).toEqual([]);
    expect(all.map((u) => u.eventPublished.id)).toEqual([mine.id, sentinel.id]);
    expect(updates.map((u) => u.eventPublished.id)).toEqual([mine.id]);
    expect(updates.map((u) => u.eventPublished.id)).not.toContain(foreign.id);
    expect(updates[0]!.eventPublished).toMatchObject({
      id: mine.id,
      applicationId,
      type: 'order.created',
      version: '1.0',
      data: { from: 'watched', amount: 12.5 },
      idempotencyKey: null,
      orderingKey: null,
    });
  });

  it('deliveryUpdated filtered by status DEAD reports only the dead letter', async () => {
    expect(herald.config.delivery.retry.maxAttempts).toBe(2);
    const applicationId = await newApplication();
    const failing = await receiver(() => ({ status: 500, body: 'always broken' }));
    const healthy = await receiver();
    const sentinel = await receiver(() => ({ status: 500, body: 'sentinel' }));
    const { endpoint: failingEndpoint } = await register({ applicationId, url: failing.url, eventTypes: ['order.created'] });
    const { endpoint: healthyEndpoint } = await register({ applicationId, url: healthy.url, eventTypes: ['order.created'] });
    await register({ applicationId, url: sentinel.url, eventTypes: ['order.cancelled'] });

    const client = herald.wsClient();
    const deadOnly = new SubscriptionRecorder<DeliveryUpdatedSubscription>(client, DeliveryUpdatedDocument, {
      applicationId,
      status: ['DEAD'],
    });
    const everything = new SubscriptionRecorder<DeliveryUpdatedSubscription>(client, DeliveryUpdatedDocument, { applicationId });
    await Promise.all([deadOnly.ready, everything.ready]);

    const event = await publish(applicationId, 'order.created');
    expect(event.deliveries).toHaveLength(2);
    const failingDelivery = event.deliveries.find((d) => d.endpointId === failingEndpoint.id)!;
    const healthyDelivery = event.deliveries.find((d) => d.endpointId === healthyEndpoint.id)!;

    await everything.waitFor(
      (all) =>
        all.some((u) => u.deliveryUpdated.delivery.id === failingDelivery.id && u.deliveryUpdated.delivery.status === 'DEAD') &&
        all.some((u) => u.deliveryUpdated.delivery.id === healthyDelivery.id && u.deliveryUpdated.delivery.status === 'SUCCEEDED'),
    );
    // A sentinel dead letter, committed after everything above: whatever else the DEAD stream were to get
    // for the first event would reach it before the sentinel does.
    const [sentinelDelivery] = (await publish(applicationId, 'order.cancelled')).deliveries;
    await deadOnly.waitFor((all) => all.some((u) => u.deliveryUpdated.delivery.id === sentinelDelivery!.id));
    deadOnly.stop();
    everything.stop();

    // The unfiltered stream saw the first failure and the success; the DEAD stream saw neither.
    const seen = everything.data.map((u) => [u.deliveryUpdated.delivery.id, u.deliveryUpdated.delivery.status]);
    expect(seen).toContainEqual([failingDelivery.id, 'FAILED']);
    expect(seen).toContainEqual([healthyDelivery.id, 'SUCCEEDED']);
    expect(deadOnly.results.filter((result) => result.errors)).toEqual([]);
    expect(deadOnly.data.map((u) => u.deliveryUpdated.delivery.id)).toEqual([failingDelivery.id, sentinelDelivery!.id]);
    const [dead] = deadOnly.data.map((u) => u.deliveryUpdated);
    expect(dead!.delivery).toMatchObject({ id: failingDelivery.id, endpointId: failingEndpoint.id, status: 'DEAD', attemptCount: 2 });
    expect(dead!.attempt).toMatchObject({ number: 2, responseStatus: 500, responseBody: 'always broken', errorKind: 'HTTP_STATUS' });
    expect(failing.requests).toHaveLength(2);
  });
});
