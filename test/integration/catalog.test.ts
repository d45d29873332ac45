import http from 'node:http';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AddEventTypeVersionDocument,
  CreateApplicationDocument,
  DeprecateEventTypeDocument,
  EventTypesDocument,
  EventsDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  RegisterEventTypeDocument,
  UpdateEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { HeraldApiError, HeraldClient, MemoryDedupeStore, createWebhookHandler, signWebhook, webhookMiddleware } from '../../src/sdk';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald, waitUntil, watchSubscriptionStarts } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const SEED_TYPES = [
  'invoice.issued',
  'order.cancelled',
  'order.created',
  'order.updated',
  'payment.failed',
  'payment.succeeded',
  'refund.processed',
  'shipment.created',
  'user.registered',
  'user.updated',
];

describe('event type catalog (GraphQL, /docs/events) and the SDKs against a running Herald', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let strict: TestHerald;
  let receiver: WebhookReceiver;
  let applicationId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
    strict = await startTestHerald(database.url, { roles: { api: true, worker: false }, config: { catalogStrict: true } });
    receiver = await WebhookReceiver.start();
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'catalog' } });
    applicationId = createApplication.id;
  });
  afterAll(async () => {
    await strict?.stop();
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  const errorOf = async <TData, TVariables>(target: TestHerald, document: TypedDocumentNode<TData, TVariables>, variables: TVariables) => {
    const result = await target.request(document, variables);
    expect(result.errors, JSON.stringify(result)).toHaveLength(1);
    return result.errors![0]!;
  };

  it('ships the ten standard types with schemas, descriptions and examples that pass them', async () => {
    const { eventTypes } = await herald.call(EventTypesDocument, {});
    // Herald's own operator types (herald.*) are listed too: test/integration/operator-events.test.ts covers them.
    expect(eventTypes.map((t) => t.name).filter((name) => !name.startsWith('herald.'))).toEqual(SEED_TYPES);
    for (const type of eventTypes) {
      expect(type.description.length).toBeGreaterThan(5);
      expect(type.latestVersion.version).toBe('1.0');
      expect(type.latestVersion.schema).toMatchObject({ type: 'object' });
      // Each example publishes cleanly: it satisfies its own schema (Herald's own herald.* types are published by
      // Herald only: the operator-events test holds their payloads to their schemas).
      if (type.name.startsWith('herald.')) continue;
      await herald.call(PublishEventDocument, { input: { applicationId, type: type.name, data: type.latestVersion.example } });
    }
  });

  it('refuses a payload that breaks the schema with BAD_USER_INPUT naming the failing path', async () => {
    const error = await errorOf(herald, PublishEventDocument, {
      input: { applicationId, type: 'order.created', data: { orderId: 'O-1', items: [{ productId: 'P', quantity: 0, price: 'free' }] } },
    });
    expect(error.extensions?.code).toBe('BAD_USER_INPUT');
    expect(error.message).toMatch(/does not match the schema of order\.created 1\.0/);
    expect(error.message).toContain('data/items/0/quantity must be >= 1');
    expect(error.message).toContain('data/items/0/price must be number');
    expect(['data/items/0/quantity', 'data/items/0/price']).toContain(error.extensions?.path);
    const missing = await errorOf(herald, PublishEventDocument, { input: { applicationId, type: 'payment.failed', data: { amount: 1 } } });
    expect(missing.message).toContain('data/paymentId is required');
    const email = await errorOf(herald, PublishEventDocument, {
      input: { applicationId, type: 'user.registered', data: { userId: 'u', email: 'nope' } },
    });
    expect(email.message).toContain('data/email must match format "email"');
  });

  it('accepts types outside the catalog by default, and refuses them when CATALOG_STRICT=true', async () => {
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'adhoc.thing', data: { any: 'thing' } },
    });
    expect(publishEvent.type).toBe('adhoc.thing');

    const refused = await errorOf(strict, PublishEventDocument, { input: { applicationId, type: 'adhoc.thing', data: {} } });
    expect(refused.extensions?.code).toBe('BAD_USER_INPUT');
    expect(refused.message).toMatch(/not in the catalog.*CATALOG_STRICT=true.*registerEventType/);
    const filter = await errorOf(strict, RegisterEndpointDocument, {
      input: { applicationId, url: receiver.url, eventTypes: ['adhoc.*'] },
    });
    expect(filter.message).toMatch(/matches no event type in the catalog/);
    // Catalog types still publish on the strict instance.
    expect(
      (await strict.call(PublishEventDocument, { input: { applicationId, type: 'refund.processed', data: { refundId: 'R-1' } } }))
        .publishEvent.type,
    ).toBe('refund.processed');
  });

  it('versions a type: endpoints pinned to 1.0 keep receiving 1.0 only, unpinned ones receive both', async () => {
    await herald.call(RegisterEventTypeDocument, {
      input: {
        name: 'subscription.renewed',
        description: 'A subscription renewed for another period.',
        schema: {
          type: 'object',
          required: ['subscriptionId'],
          properties: { subscriptionId: { type: 'string' }, amount: { type: 'number' } },
        },
        example: { subscriptionId: 'SUB-1', amount: 10 },
      },
    });
    const { addEventTypeVersion } = await herald.call(AddEventTypeVersionDocument, {
      input: {
        name: 'subscription.renewed',
        version: '2.0',
        schema: {
          type: 'object',
          required: ['subscriptionId', 'price'],
          properties: { price: { type: 'object', required: ['amount', 'currency'] } },
        },
        example: { subscriptionId: 'SUB-1', price: { amount: 10, currency: 'EUR' } },
      },
    });
    expect(addEventTypeVersion.versions.map((v) => v.version)).toEqual(['1.0', '2.0']);
    expect(addEventTypeVersion.latestVersion.version).toBe('2.0');

    const pinned = await herald.call(RegisterEndpointDocument, {
      input: {
        applicationId,
        url: `${receiver.url}?pinned`,
        eventTypes: ['subscription.*'],
        eventVersions: { 'subscription.renewed': '1.0' },
      },
    });
    expect(pinned.registerEndpoint.endpoint.eventVersions).toEqual({ 'subscription.renewed': '1.0' });
    await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: `${receiver.url}?latest`, eventTypes: ['subscription.*'] },
    });

    // Each version validates against its own schema.
    const v1Error = await errorOf(herald, PublishEventDocument, {
      input: { applicationId, type: 'subscription.renewed', version: '2.0', data: { subscriptionId: 'SUB-1', amount: 10 } },
    });
    expect(v1Error.message).toContain('data/price is required');
    const v1 = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'subscription.renewed', data: { subscriptionId: 'SUB-1', amount: 10 } },
    });
    const v2 = await herald.call(PublishEventDocument, {
      input: {
        applicationId,
        type: 'subscription.renewed',
        version: '2.0',
        data: { subscriptionId: 'SUB-1', price: { amount: 10, currency: 'EUR' } },
      },
    });
    expect(v1.publishEvent.deliveries).toHaveLength(2);
    expect(v2.publishEvent.deliveries).toHaveLength(1);
    await waitUntil(
      async () => receiver.requests.filter((r) => r.path.includes('pinned')),
      (requests) => requests.length >= 1,
    );
    // All three deliveries have their outcome (SUCCEEDED is final): nothing more reaches the pinned endpoint.
    await waitUntil(
      () =>
        query<{ status: string }>(database.url, 'select status from deliveries where event_id = any($1)', [
          [v1.publishEvent.id, v2.publishEvent.id],
        ]),
      (rows) => rows.length === 3 && rows.every((row) => row.status === 'SUCCEEDED'),
    );
    const pinnedBodies = receiver.requests.filter((r) => r.path.includes('pinned')).map((r) => JSON.parse(r.body) as { version: string });
    expect(pinnedBodies.map((b) => b.version)).toEqual(['1.0']);

    const unknownVersion = await errorOf(herald, PublishEventDocument, {
      input: { applicationId, type: 'subscription.renewed', version: '3.0', data: { subscriptionId: 'S' } },
    });
    expect(unknownVersion.message).toMatch(/has no version "3\.0".*"1\.0", "2\.0"/);
    const badPin = await errorOf(herald, UpdateEndpointDocument, {
      id: pinned.registerEndpoint.endpoint.id,
      input: { eventVersions: { 'subscription.renewed': '9' } },
    });
    expect(badPin.message).toMatch(/not one of its versions/);
    const badExample = await errorOf(herald, AddEventTypeVersionDocument, {
      input: { name: 'subscription.renewed', version: '3.0', schema: { type: 'object', required: ['x'] }, example: {} },
    });
    expect(badExample.message).toMatch(/"example" does not match its own schema: example\/x is required/);
    const badSchema = await errorOf(herald, RegisterEventTypeDocument, {
      input: { name: 'broken.schema', description: 'x', schema: { type: 'no-such-type' }, example: {} },
    });
    expect(badSchema.message).toMatch(/not a valid JSON Schema/);
  });

  it('deprecates a type: still publishable, but new subscriptions to it are refused', async () => {
    const { deprecateEventType } = await herald.call(DeprecateEventTypeDocument, { name: 'user.updated', note: 'use user.changed' });
    expect(deprecateEventType).toMatchObject({ deprecated: true, deprecationNote: 'use user.changed' });
    const refused = await errorOf(herald, RegisterEndpointDocument, {
      input: { applicationId, url: receiver.url, eventTypes: ['user.updated'] },
    });
    expect(refused.message).toMatch(/"user\.updated" is deprecated \(use user\.changed\)/);
    await herald.call(PublishEventDocument, { input: { applicationId, type: 'user.updated', data: { userId: 'U' } } });
    const { eventTypes } = await herald.call(EventTypesDocument, { includeDeprecated: false });
    expect(eventTypes.map((t) => t.name)).not.toContain('user.updated');
  });

  it('renders the catalog as a readable page at /docs/events', async () => {
    const response = await fetch(`${herald.url}/docs/events`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    const html = await response.text();
    for (const name of SEED_TYPES) expect(html).toContain(`id="type-${name.replace('.', '-')}"`);
    expect(html).toContain('A customer placed an order.');
    expect(html).toContain('&quot;orderId&quot;: &quot;ORD-123456&quot;');
    expect(html).toContain('Version 2.0');
    expect(html).toMatch(/deprecated<\/span> since \d{4}-\d\d-\d\d: use user\.changed/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3)/);
  });

  it('publishEvents writes a batch in one transaction: all or nothing', async () => {
    const client = new HeraldClient({ url: herald.url, apiKey: herald.adminKey });
    const events = await client.publishEvents([
      { applicationId, type: 'order.created', data: { orderId: 'B-1' } },
      { applicationId, type: 'order.updated', data: { orderId: 'B-1', status: 'paid' } },
    ]);
    expect(events.map((e) => e.type)).toEqual(['order.created', 'order.updated']);
    const before = await query<{ n: string }>(database.url, 'select count(*) as n from events');
    const failure = await client
      .publishEvents([
        { applicationId, type: 'order.created', data: { orderId: 'B-2' } },
        { applicationId, type: 'order.created', data: { amount: 3 } },
      ])
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(HeraldApiError);
    expect((failure as HeraldApiError).code).toBe('BAD_USER_INPUT');
    expect((failure as HeraldApiError).message).toMatch(/^inputs\[1\]: .*data\/orderId is required/);
    expect(await query<{ n: string }>(database.url, 'select count(*) as n from events')).toEqual(before);
    const { events: listed } = await herald.call(EventsDocument, { filter: { applicationId, type: 'order.created' } });
    expect(listed.nodes.some((e) => (e.data as { orderId?: string }).orderId === 'B-2')).toBe(false);
  });

  it('the producer client sends Authorization: Bearer and streams delivery updates; receivers verify and dedupe over HTTP', async () => {
    const [nodeSecret, expressSecret, jsonSecret] = [1, 2, 3].map((n) => `whsec_${Buffer.alloc(32, n).toString('base64')}`) as [
      string,
      string,
      string,
    ];
    // Receivers built from the SDK: its node:http handler, its express middleware, and a misconfigured
    // express app that parses JSON before the middleware.
    const handled: string[] = [];
    const nodeServer = http.createServer(
      createWebhookHandler<{ data: { orderId: string } }>({ secrets: nodeSecret, dedupe: new MemoryDedupeStore() }, (webhook) => {
        handled.push(`node:${webhook.payload.data.orderId}`);
      }),
    );
    const app = express();
    app.post('/hooks', webhookMiddleware({ secrets: [jsonSecret, expressSecret], dedupe: new MemoryDedupeStore() }), (req, res) => {
      handled.push(`express:${(req as unknown as { webhook: { payload: { data: { orderId: string } } } }).webhook.payload.data.orderId}`);
      res.status(204).end();
    });
    const jsonFirst = express();
    jsonFirst.post('/hooks', express.json(), webhookMiddleware({ secrets: jsonSecret }));
    const servers = [nodeServer, http.createServer(app), http.createServer(jsonFirst)];
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    const urlOf = (server: http.Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;

    // A loopback proxy in front of Herald records the Authorization header the client sends.
    const authHeaders: Array<string | undefined> = [];
    const spy = http.createServer((req, res) => {
      authHeaders.push(req.headers.authorization);
      const upstream = http.request(`${herald.url}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => spy.listen(0, '127.0.0.1', resolve));
    const client = new HeraldClient({ url: `http://127.0.0.1:${(spy.address() as AddressInfo).port}`, apiKey: herald.adminKey });
    const subscriber = new HeraldClient({ url: herald.url, apiKey: herald.adminKey });
    const seen: string[] = [];
    try {
      const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'sdk' } });
      const appId = createApplication.id;
      const register = (server: http.Server, secret: string) =>
        client.registerEndpoint({ applicationId: appId, url: urlOf(server), eventTypes: ['order.*'], secret });
      const nodeEndpoint = await register(servers[0]!, nodeSecret);
      const expressEndpoint = await register(servers[1]!, expressSecret);
      const jsonEndpoint = await register(servers[2]!, jsonSecret);
      expect(authHeaders).toEqual([`Bearer ${herald.adminKey}`, `Bearer ${herald.adminKey}`, `Bearer ${herald.adminKey}`]);

      await subscriber.connect();
      const subscriptions = watchSubscriptionStarts();
      subscriber.subscribeDeliveries({ applicationId: appId }, (update) =>
        seen.push(`${update.delivery.endpointId}:${update.delivery.status}`),
      );
      await subscriptions.started(1);
      subscriptions.stop();
      const event = await client.publishEvent({ applicationId: appId, type: 'order.created', data: { orderId: 'SDK-1' } });
      expect(event.deliveries).toHaveLength(3);

      await waitUntil(
        async () => seen,
        (list) => list.length >= 3,
      );
      expect(seen).toContain(`${nodeEndpoint.endpoint.id}:SUCCEEDED`);
      expect(seen).toContain(`${expressEndpoint.endpoint.id}:SUCCEEDED`);
      // express.json() ran first: the middleware refuses the parsed body and says why (a 500 for the receiver's owner).
      expect(seen).toContain(`${jsonEndpoint.endpoint.id}:FAILED`);
      const [attempt] = await query<{ response_status: number; response_body: string }>(
        database.url,
        'select response_status, response_body from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.endpoint_id = $1',
        [jsonEndpoint.endpoint.id],
      );
      expect(attempt).toMatchObject({ response_status: 500 });
      expect(attempt!.response_body).toMatch(/NOT_RAW_BODY.*raw request body/);
      expect(handled.sort()).toEqual(['express:SDK-1', 'node:SDK-1']);

      // A replay of an already handled webhook-id is acknowledged as a duplicate and not handled again.
      const body = JSON.stringify({ data: { orderId: 'REPLAY' } });
      const headers = { 'content-type': 'application/json', ...signWebhook({ secret: nodeSecret, body, id: 'msg_replay' }) };
      const first = await fetch(urlOf(servers[0]!), { method: 'POST', headers, body });
      const second = await fetch(urlOf(servers[0]!), { method: 'POST', headers, body });
      expect(first.status).toBe(204);
      expect(second.status).toBe(200);
      expect(await second.json()).toEqual({ duplicate: true, id: 'msg_replay' });
      expect(handled.filter((entry) => entry === 'node:REPLAY')).toHaveLength(1);
      const forged = await fetch(urlOf(servers[1]!), { method: 'POST', headers: { ...headers, 'webhook-id': 'msg_forged' }, body });
      expect(forged.status).toBe(401);
      expect(await forged.json()).toMatchObject({ error: 'NO_MATCHING_SIGNATURE' });
    } finally {
      await subscriber.close();
      await client.close();
      await Promise.all([...servers, spy].map((server) => new Promise((resolve) => server.close(resolve))));
    }
  });
});
