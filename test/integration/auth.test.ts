import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type DocumentNode, Kind, type OperationDefinitionNode, print } from 'graphql';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildHeraldSchema } from '../../src/graphql/schema';
import { ApiKeyService } from '../../src/modules/api-keys/api-key.service';
import * as operations from '../../src/sdk/generated/graphql';
import {
  ApiKeysDocument,
  ApplicationsDocument,
  CreateApiKeyDocument,
  CreateApplicationDocument,
  CurrentApiKeyDocument,
  DeadLettersDocument,
  DeleteEndpointDocument,
  DeliveriesDocument,
  DeliveryDocument,
  DeliveryUpdatedDocument,
  type DeliveryUpdatedSubscription,
  DisableEndpointDocument,
  EnableEndpointDocument,
  EndpointDocument,
  EndpointsDocument,
  EventDocument,
  EventPublishedDocument,
  type EventPublishedSubscription,
  EventsDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  RetryDeliveryDocument,
  RevokeApiKeyDocument,
  RotateEndpointSecretDocument,
  SendTestEventDocument,
  SetEndpointAsymmetricSignaturesDocument,
  UpdateEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, startTestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

/** Every operation the SDK defines, by name. */
const DOCUMENTS = Object.entries(operations).filter(
  (entry): entry is [string, DocumentNode] =>
    entry[0].endsWith('Document') && typeof entry[1] === 'object' && (entry[1] as DocumentNode).kind === Kind.DOCUMENT,
);

function operationOf(document: DocumentNode): OperationDefinitionNode {
  return document.definitions.find((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)!;
}

function rootFieldsOf(document: DocumentNode): string[] {
  return operationOf(document).selectionSet.selections.flatMap((selection) =>
    selection.kind === Kind.FIELD ? [selection.name.value] : [],
  );
}

describe('authentication: every operation needs a valid API key', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let revokedKey: string;
  let expiredKey: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
    revokedKey = await herald.createKey({ name: 'revoked' });
    const { apiKeys } = await herald.call(ApiKeysDocument, { page: { first: 100 } });
    await herald.call(RevokeApiKeyDocument, { id: apiKeys.nodes.find((key) => key.name === 'revoked')!.prefix });
    // Created as of two seconds ago with a one-second lifetime: already expired, with no wait for it to lapse.
    const createdAt = new Date(Date.now() - 2000);
    expiredKey = (
      await new ApiKeyService(herald.handle.database.orm.em.fork()).create(
        { name: 'soon expired', expiresAt: new Date(createdAt.getTime() + 1000) },
        createdAt,
      )
    ).key;
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it('the SDK operations cover every query, mutation and subscription of the schema', async () => {
    const schema = await buildHeraldSchema();
    const rootFields = [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
      Object.keys(type?.getFields() ?? {}),
    );
    const covered = new Set(DOCUMENTS.flatMap(([, document]) => rootFieldsOf(document)));
    expect(rootFields.filter((field) => !covered.has(field))).toEqual([]);
    expect(rootFields.length).toBeGreaterThan(20);
  });

  const refusals: Array<[string, () => Record<string, string>, RegExp]> = [
    ['no Authorization header', () => ({ authorization: '' }), /needs an API key/],
    ['another scheme', () => ({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), /needs an API key/],
    ['a malformed key', () => ({ authorization: 'Bearer not-a-key' }), /malformed/],
    ['an unknown key', () => ({ authorization: `Bearer hk_00000000_${'A'.repeat(43)}` }), /not valid/],
    ['a revoked key', () => ({ authorization: `Bearer ${revokedKey}` }), /revoked/],
    ['an expired key', () => ({ authorization: `Bearer ${expiredKey}` }), /expired/],
  ];

  it.each(refusals)(
    'refuses every query and mutation over HTTP with %s: 401, UNAUTHENTICATED, nothing runs',
    async (_name, headers, message) => {
      const httpOperations = DOCUMENTS.filter(([, document]) => operationOf(document).operation !== 'subscription');
      expect(httpOperations.length).toBeGreaterThan(20);
      for (const [name, document] of httpOperations) {
        const response = await fetch(`${herald.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...Object.fromEntries(Object.entries(headers()).filter(([, v]) => v !== '')) },
          body: JSON.stringify({
            query: print(document),
            variables: { input: { name: 'x', url: 'http://127.0.0.1:1/', type: 'a.b', data: {} }, id: 'x' },
          }),
        });
        expect(response.status, name).toBe(401);
        expect(response.headers.get('www-authenticate')).toBe('Bearer');
        const body = (await response.json()) as { data?: unknown; errors: Array<{ message: string; extensions: { code: string } }> };
        expect(body.data ?? null, name).toBeNull();
        expect(
          body.errors.map((error) => error.extensions.code),
          name,
        ).toEqual(['UNAUTHENTICATED']);
        expect(body.errors[0]!.message, name).toMatch(message);
      }
      // Nothing was written by the refused mutations.
      const { applications } = await herald.call(ApplicationsDocument, { page: { first: 100 } });
      expect(applications.nodes.map((application) => application.id)).toEqual(['app_default']);
    },
  );

  it('refuses GraphQL over GET without a key too', async () => {
    const response = await fetch(`${herald.url}/graphql?query=${encodeURIComponent('{ applications { nodes { id } } }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(response.status).toBe(401);
  });

  it('requests sent at once with valid, revoked, expired and unknown keys each get their own answer', async () => {
    const unknownKey = `hk_zzzzzzzz_${'A'.repeat(43)}`;
    const keys = [herald.adminKey, revokedKey, expiredKey, unknownKey, herald.adminKey, revokedKey];
    const answers = await Promise.all(
      keys.map(async (key) => {
        const response = await fetch(`${herald.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
          body: JSON.stringify({ query: '{ applications(page: { first: 1 }) { nodes { id } } }' }),
        });
        const body = (await response.json()) as { errors?: Array<{ message: string }> };
        return { status: response.status, message: body.errors?.[0]?.message ?? null };
      }),
    );
    expect(answers.map((answer) => answer.status)).toEqual([200, 401, 401, 401, 200, 401]);
    expect(answers[1]!.message).toMatch(/revoked/);
    expect(answers[2]!.message).toMatch(/expired/);
    expect(answers[3]!.message).toMatch(/not valid/);
    expect(answers[5]!.message).toMatch(/revoked/);
  });

  async function connectionOutcome(
    connectionParams: Record<string, unknown> | undefined,
  ): Promise<{ code: number; reason: string } | 'open'> {
    return new Promise((resolve) => {
      const client = createClient({
        url: `${herald.url.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams,
        lazy: false,
        retryAttempts: 0,
        // The refusal is what this test looks at; graphql-ws would also print it.
        onNonLazyError: () => undefined,
        on: {
          connected: () => {
            resolve('open');
            void client.dispose();
          },
          closed: (event) =>
            resolve({ code: (event as { code: number; reason: string }).code, reason: (event as { code: number; reason: string }).reason }),
        },
      });
    });
  }

  it.each([
    ['no connection_init payload', undefined],
    ['an empty payload', {}],
    ['a malformed key', { Authorization: 'Bearer nope' }],
    ['a revoked key', () => ({ Authorization: `Bearer ${revokedKey}` })],
    ['an expired key', () => ({ authorization: `Bearer ${expiredKey}` })],
  ])('closes a graphql-ws connection with %s (4401, saying what to send)', async (_name, params) => {
    const outcome = await connectionOutcome(typeof params === 'function' ? params() : params);
    expect(outcome).toEqual({ code: 4401, reason: expect.stringMatching(/Authorization.*Bearer/) });
  });

  it('accepts the key in connection_init as Authorization, authorization or apiKey', async () => {
    for (const params of [
      { Authorization: `Bearer ${herald.adminKey}` },
      { authorization: `Bearer ${herald.adminKey}` },
      { apiKey: herald.adminKey },
      { headers: { Authorization: `Bearer ${herald.adminKey}` } },
    ]) {
      expect(await connectionOutcome(params), JSON.stringify(Object.keys(params))).toBe('open');
    }
  });

  it('a socket is closed (4401, saying the key was revoked) as soon as its key is revoked, with its subscriptions', async () => {
    const key = await herald.createKey({ name: 'revoked while connected' });
    const socket = await openKeyedSocket(herald.url, key);
    const { apiKeys } = await herald.call(ApiKeysDocument, { page: { first: 100 } });
    await herald.call(RevokeApiKeyDocument, { id: apiKeys.nodes.find((apiKey) => apiKey.name === 'revoked while connected')!.id });
    expect(await closedWithin(socket.closed, 3000)).toEqual({ code: 4401, reason: expect.stringMatching(/revoked/) });
    expect(await socket.subscriptionEnded()).toBe(true);
    expect(await connectionOutcome({ Authorization: `Bearer ${key}` })).toEqual({ code: 4401, reason: expect.stringMatching(/Bearer/) });
  });
});

describe('tenant isolation: an application key sees and changes only its own application', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  let keyA: string;
  const a = { app: '', endpoint: '', event: '', delivery: '' };
  const b = { app: '', endpoint: '', event: '', delivery: '' };

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
    receiver = await WebhookReceiver.start();
    for (const [side, name] of [
      [a, 'Tenant A'],
      [b, 'Tenant B'],
    ] as const) {
      side.app = (await herald.call(CreateApplicationDocument, { input: { name } })).createApplication.id;
      side.endpoint = (
        await herald.call(RegisterEndpointDocument, { input: { applicationId: side.app, url: receiver.url } })
      ).registerEndpoint.endpoint.id;
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { applicationId: side.app, type: 'tenant.check', data: { tenant: name } },
      });
      side.event = publishEvent.id;
      side.delivery = publishEvent.deliveries[0]!.id;
    }
    keyA = await herald.createKey({ name: 'portal of A', applicationId: a.app });
    await receiver.waitForRequests(2);
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  const asA = <TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables) =>
    herald.request(document, variables, { authorization: `Bearer ${keyA}` });

  it('lists only its own application, endpoints, events, deliveries and dead letters, whatever the filter', async () => {
    expect((await herald.callAs(keyA, ApplicationsDocument, {})).applications.nodes.map((node) => node.id)).toEqual([a.app]);
    expect((await herald.callAs(keyA, EndpointsDocument, {})).endpoints.nodes.map((node) => node.id)).toEqual([a.endpoint]);
    expect((await herald.callAs(keyA, EventsDocument, {})).events.nodes.map((node) => node.id)).toEqual([a.event]);
    expect((await herald.callAs(keyA, DeliveriesDocument, {})).deliveries.nodes.map((node) => node.id)).toEqual([a.delivery]);
    expect((await herald.callAs(keyA, DeadLettersDocument, {})).deadLetters.nodes).toEqual([]);
    // Asking for B's data by filter gives nothing, not an error that would confirm B exists.
    expect((await herald.callAs(keyA, EndpointsDocument, { filter: { applicationId: b.app } })).endpoints.nodes).toEqual([]);
    expect((await herald.callAs(keyA, EventsDocument, { filter: { applicationId: b.app } })).events.nodes).toEqual([]);
    expect((await herald.callAs(keyA, DeliveriesDocument, { filter: { applicationId: b.app } })).deliveries.nodes).toEqual([]);
    expect((await herald.callAs(keyA, DeliveriesDocument, { filter: { endpointId: b.endpoint } })).deliveries.nodes).toEqual([]);
    expect((await herald.callAs(keyA, DeliveriesDocument, { filter: { eventId: b.event } })).deliveries.nodes).toEqual([]);
    // The admin key sees both.
    expect((await herald.call(EndpointsDocument, {})).endpoints.nodes.map((node) => node.id).sort()).toEqual(
      [a.endpoint, b.endpoint].sort(),
    );
  });

  it("a cursor taken from another tenant's listing pages only through its own data", async () => {
    const all = await herald.call(EventsDocument, { page: { first: 1 } });
    // Newest first: B's event, then A's. A's key with the admin's cursor still sees only A's events.
    expect(all.events.nodes[0]!.id).toBe(b.event);
    const paged = await herald.callAs(keyA, EventsDocument, { page: { first: 10, after: all.events.pageInfo.endCursor } });
    expect(paged.events.nodes.map((node) => node.id)).toEqual([a.event]);
  });

  it('answers NOT_FOUND for every id of another tenant, exactly as for an id that does not exist, and changes nothing', async () => {
    type Result = { errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> };
    const guesses: Array<[string, (id: string) => Promise<Result>, string]> = [
      ['endpoint', (id) => asA(EndpointDocument, { id }), b.endpoint],
      ['updateEndpoint', (id) => asA(UpdateEndpointDocument, { id, input: { url: 'http://127.0.0.1:9/x' } }), b.endpoint],
      ['disableEndpoint', (id) => asA(DisableEndpointDocument, { id }), b.endpoint],
      ['enableEndpoint', (id) => asA(EnableEndpointDocument, { id }), b.endpoint],
      ['rotateEndpointSecret', (id) => asA(RotateEndpointSecretDocument, { id }), b.endpoint],
      ['setEndpointAsymmetricSignatures', (id) => asA(SetEndpointAsymmetricSignaturesDocument, { id, enabled: true }), b.endpoint],
      ['deleteEndpoint', (id) => asA(DeleteEndpointDocument, { id }), b.endpoint],
      ['sendTestEvent', (id) => asA(SendTestEventDocument, { endpointId: id }), b.endpoint],
      ['event', (id) => asA(EventDocument, { id }), b.event],
      ['delivery', (id) => asA(DeliveryDocument, { id }), b.delivery],
      ['retryDelivery', (id) => asA(RetryDeliveryDocument, { id }), b.delivery],
      ['publishEvent', (id) => asA(PublishEventDocument, { input: { applicationId: id, type: 'tenant.check', data: {} } }), b.app],
      ['registerEndpoint', (id) => asA(RegisterEndpointDocument, { input: { applicationId: id, url: receiver.url } }), b.app],
    ];
    for (const [name, attempt, id] of guesses) {
      const unknownId = `${id.split('_')[0]}_0000000000000000000000000z`;
      const [other, unknown] = [await attempt(id), await attempt(unknownId)];
      expect(
        other.errors?.map((error) => error.extensions?.code),
        name,
      ).toEqual(['NOT_FOUND']);
      // The answer for another tenant's id is the answer for an id that does not exist.
      expect(other.errors![0]!.message.replace(id, 'ID'), name).toBe(unknown.errors![0]!.message.replace(unknownId, 'ID'));
      expect(other.errors![0]!.extensions, name).toEqual({ code: 'NOT_FOUND', id });
      expect(unknown.errors![0]!.extensions, name).toEqual({ code: 'NOT_FOUND', id: unknownId });
    }
    // B is untouched: same URL, enabled, not deleted, no extra deliveries or events.
    const { endpoint } = await herald.call(EndpointDocument, { id: b.endpoint });
    expect(endpoint).toMatchObject({ url: receiver.url, enabled: true, publicKey: null });
    const { events } = await herald.call(EventsDocument, { filter: { applicationId: b.app } });
    expect(events.nodes.map((node) => node.id)).toEqual([b.event]);
    expect((await herald.call(DeliveriesDocument, { filter: { applicationId: b.app } })).deliveries.nodes).toHaveLength(1);
  });

  it('publishes and registers into its own application when no application id is given', async () => {
    const { publishEvent } = await herald.callAs(keyA, PublishEventDocument, {
      input: { type: 'order.updated', data: { orderId: 'O-1', n: 1 } },
    });
    expect(publishEvent.applicationId).toBe(a.app);
    const { registerEndpoint } = await herald.callAs(keyA, RegisterEndpointDocument, {
      input: { url: receiver.url, eventTypes: ['none.*'] },
    });
    expect(registerEndpoint.endpoint.applicationId).toBe(a.app);
  });

  it('cannot create applications or manage API keys (FORBIDDEN), but can see its own key', async () => {
    for (const [name, result] of [
      ['createApplication', await asA(CreateApplicationDocument, { input: { name: 'sneaky' } })],
      ['createApiKey', await asA(CreateApiKeyDocument, { input: { name: 'escalate' } })],
      ['apiKeys', await asA(ApiKeysDocument, {})],
      ['revokeApiKey', await asA(RevokeApiKeyDocument, { id: 'key_x' })],
    ] as const) {
      expect(
        result.errors?.map((error) => error.extensions?.code),
        name,
      ).toEqual(['FORBIDDEN']);
      expect(result.errors?.[0]?.message, name).toMatch(/needs an admin API key/);
    }
    const { currentApiKey } = await herald.callAs(keyA, CurrentApiKeyDocument, {});
    expect(currentApiKey).toMatchObject({ kind: 'APPLICATION', applicationId: a.app, name: 'portal of A' });
    expect(JSON.stringify(currentApiKey)).not.toContain(keyA.slice(12));
  });

  it("subscriptions stream only its own application's events and deliveries, even when asked for another's", async () => {
    const client = herald.wsClient({ Authorization: `Bearer ${keyA}` });
    const deliveries = new SubscriptionRecorder<DeliveryUpdatedSubscription>(client, DeliveryUpdatedDocument, {});
    const events = new SubscriptionRecorder<EventPublishedSubscription>(client, EventPublishedDocument, {});
    const askedForB = new SubscriptionRecorder<EventPublishedSubscription>(client, EventPublishedDocument, { applicationId: b.app });
    await Promise.all([deliveries.ready, events.ready, askedForB.ready]);

    const published: Record<string, string> = {};
    for (const side of [b, a, b]) {
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { applicationId: side.app, type: 'tenant.check', data: {} },
      });
      published[publishEvent.id] = side.app;
    }
    const ownEvent = Object.keys(published).find((id) => published[id] === a.app)!;
    await events.waitFor((all) => all.some((update) => update.eventPublished.id === ownEvent));
    await deliveries.waitFor((all) =>
      all.some((update) => update.deliveryUpdated.delivery.eventId === ownEvent && update.deliveryUpdated.delivery.status === 'SUCCEEDED'),
    );
    // B's deliveries were made as well (so their notifications went out) before we look.
    await waitUntil(
      () => herald.call(DeliveriesDocument, { filter: { applicationId: b.app, status: ['SUCCEEDED'] } }),
      (result) => result.deliveries.nodes.length === 3,
    );
    // A sentinel of A's, published and delivered after all of B's: anything of B's would have streamed before it
    // (on these two streams; askedForB's group took B's notifications from the same feed, before the sentinel's).
    const { publishEvent: sentinel } = await herald.call(PublishEventDocument, {
      input: { applicationId: a.app, type: 'tenant.check', data: {} },
    });
    await events.waitFor((all) => all.some((update) => update.eventPublished.id === sentinel.id));
    await deliveries.waitFor((all) =>
      all.some(
        (update) => update.deliveryUpdated.delivery.eventId === sentinel.id && update.deliveryUpdated.delivery.status === 'SUCCEEDED',
      ),
    );
    expect(events.data.map((update) => update.eventPublished.id)).toEqual([ownEvent, sentinel.id]);
    expect(events.data.map((update) => update.eventPublished.applicationId)).toEqual([a.app, a.app]);
    expect(new Set(deliveries.data.map((update) => update.deliveryUpdated.delivery.applicationId))).toEqual(new Set([a.app]));
    expect(askedForB.results).toEqual([]);
  });
});

describe('verified keys are reused, and forgotten as soon as the key changes anywhere', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let sql: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, { config: { apiKeyCacheTtlMs: 60_000 } });
    sql = new pg.Client({ connectionString: database.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await herald?.stop();
    await database?.drop();
  });

  const status = async (key: string) => {
    const response = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ currentApiKey { id } }' }),
    });
    const body = (await response.json()) as { errors?: Array<{ message: string; extensions: { code: string } }> };
    return body.errors ? `${body.errors[0]!.extensions.code}: ${body.errors[0]!.message}` : 'OK';
  };
  const named = (name: string) =>
    sql.query('select id from api_keys where name = $1', [name]).then((result) => result.rows[0].id as string);

  it('a verified key is answered without reading api_keys again (an edit that fires no trigger goes unseen)', async () => {
    const key = await herald.createKey({ name: 'cached' });
    expect(await status(key)).toBe('OK');
    // With triggers off (replica role) the row changes without telling anyone: a fresh lookup would now fail.
    await sql.query('begin');
    await sql.query('set local session_replication_role = replica');
    await sql.query("update api_keys set key_hash = 'no longer this key' where id = $1", [await named('cached')]);
    await sql.query('commit');
    expect(await status(key)).toBe('OK');
  });

  it('a key revoked by another process (plain SQL here) is refused once the notification arrives, in well under the cache lifetime', async () => {
    const key = await herald.createKey({ name: 'revoked elsewhere' });
    expect(await status(key)).toBe('OK');
    const revokedAt = Date.now();
    await sql.query('update api_keys set revoked_at = now() where id = $1', [await named('revoked elsewhere')]);
    const refused = await waitUntil(
      () => status(key),
      (answer) => answer !== 'OK',
      2000,
      10,
    );
    expect(refused).toMatch(/^UNAUTHENTICATED: .*revoked/);
    expect(Date.now() - revokedAt).toBeLessThan(2000);
  });

  it('a cached key is refused once its expiry passes', async () => {
    const key = await herald.createKey({ name: 'expiring' });
    await sql.query("update api_keys set expires_at = now() + interval '1 second' where id = $1", [await named('expiring')]);
    expect(await status(key)).toBe('OK');
    const refused = await waitUntil(
      () => status(key),
      (answer) => answer !== 'OK',
      3000,
      50,
    );
    expect(refused).toMatch(/^UNAUTHENTICATED: .*expired/);
  });

  it('a socket whose key another process revokes (plain SQL here) is closed once the notification arrives', async () => {
    const key = await herald.createKey({ name: 'revoked elsewhere while connected' });
    const socket = await openKeyedSocket(herald.url, key);
    const revokedAt = Date.now();
    await sql.query('update api_keys set revoked_at = now() where id = $1', [await named('revoked elsewhere while connected')]);
    expect(await closedWithin(socket.closed, 3000)).toEqual({ code: 4401, reason: expect.stringMatching(/revoked/) });
    expect(Date.now() - revokedAt).toBeLessThan(2000);
    expect(await socket.subscriptionEnded()).toBe(true);
  });

  it('a socket whose key expires while connected is closed when the expiry comes, and not before', async () => {
    const key = await herald.createKey({ name: 'expiring while connected' });
    const socket = await openKeyedSocket(herald.url, key);
    const expiresAt = Date.now() + 1500;
    await sql.query('update api_keys set expires_at = to_timestamp($2::double precision / 1000) where id = $1', [
      await named('expiring while connected'),
      expiresAt,
    ]);
    // A deadline, not a wait: the close at the expiry ends it.
    const outcome = await Promise.race([socket.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 4000))]);
    expect(outcome).toEqual({ code: 4401, reason: expect.stringMatching(/expired/) });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    expect(await socket.subscriptionEnded()).toBe(true);
  });

  it('a socket whose key changes in a way that keeps it valid stays open', async () => {
    const key = await herald.createKey({ name: 'renamed while connected' });
    const socket = await openKeyedSocket(herald.url, key);
    const sentinelKey = await herald.createKey({ name: 'sentinel revoked after the rename' });
    const sentinel = await openKeyedSocket(herald.url, sentinelKey);
    await sql.query("update api_keys set name = 'renamed, still valid' where id = $1", [await named('renamed while connected')]);
    // The sentinel's revocation is notified after the rename, and its check starts after the rename's: once the
    // sentinel's socket is closed, the rename's check has had its turn.
    await sql.query('update api_keys set revoked_at = now() where id = $1', [await named('sentinel revoked after the rename')]);
    expect(await closedWithin(sentinel.closed, 3000)).toEqual({ code: 4401, reason: expect.stringMatching(/revoked/) });
    expect(socket.state()).toEqual({ closed: false, subscriptionEnded: false });
    await socket.dispose();
  });

  it('a key revoked through the API is refused on the very next request', async () => {
    const key = await herald.createKey({ name: 'revoked here' });
    expect(await status(key)).toBe('OK');
    await herald.call(RevokeApiKeyDocument, { id: await named('revoked here') });
    expect(await status(key)).toMatch(/^UNAUTHENTICATED: .*revoked/);
  });
});

describe('rate limiting per API key', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, { config: { rateLimit: { perMinute: 2, burst: 5 } } });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it('answers RATE_LIMITED (429, Retry-After) past the burst, per key, over HTTP and graphql-ws', async () => {
    const send = (key: string) =>
      fetch(`${herald.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: '{ currentApiKey { id } }' }),
      });
    const other = await herald.createKey({ name: 'other' });
    const statuses: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const response = await send(herald.adminKey);
      statuses.push(response.status);
      if (response.status === 429) refused ??= response;
      else await response.arrayBuffer();
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5).every((status) => status === 429)).toBe(true);
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused!.json()) as { errors: Array<{ message: string; extensions: Record<string, unknown> }> };
    expect(body.errors[0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
    expect(body.errors[0]!.message).toMatch(/API_RATE_LIMIT_PER_MINUTE.*Retry in \d+ s/);
    // Another key is not affected.
    expect((await send(other)).status).toBe(200);

    const client = herald.wsClient();
    const result = await new Promise<unknown>((resolve) =>
      client.subscribe(
        { query: 'subscription { eventPublished { id } }' },
        { next: resolve, error: resolve, complete: () => resolve('complete') },
      ),
    );
    expect(JSON.stringify(result)).toContain('RATE_LIMITED');
  });
});

/**
 * A graphql-ws connection with the key and one live subscription, and how it ended: the close code and reason
 * the server sent, and whether the subscription was ended with it.
 */
async function openKeyedSocket(
  url: string,
  key: string,
): Promise<{
  closed: Promise<{ code: number; reason: string }>;
  subscriptionEnded: () => Promise<boolean>;
  /** Whether the socket has closed and its subscription ended, as of now. */
  state: () => { closed: boolean; subscriptionEnded: boolean };
  dispose: () => Promise<void>;
}> {
  const state = { closed: false, subscriptionEnded: false };
  let endSubscription!: () => void;
  const ended = new Promise<true>(
    (resolve) =>
      (endSubscription = () => {
        state.subscriptionEnded = true;
        resolve(true);
      }),
  );
  let dispose: () => Promise<void> = async () => undefined;
  let resolveClosed!: (event: { code: number; reason: string }) => void;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (resolveClosed = resolve));
  void closed.then(() => (state.closed = true));
  const connected = new Promise<void>((resolve) => {
    const client = createClient({
      url: `${url.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${key}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
      on: {
        connected: () => resolve(),
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string };
          resolveClosed({ code, reason });
        },
      },
    });
    dispose = async () => client.dispose();
    client.subscribe(
      { query: print(EventPublishedDocument) },
      { next: () => undefined, error: () => endSubscription(), complete: () => endSubscription() },
    );
  });
  await connected;
  return {
    closed,
    // graphql-ws ends the subscription just after it reports the close: a deadline allows for it.
    subscriptionEnded: () => Promise.race([ended, new Promise<false>((resolve) => setTimeout(() => resolve(false), 1000))]),
    state: () => ({ ...state }),
    dispose: () => dispose(),
  };
}

/** How a socket closed, or 'still open' once the deadline `ms` passed without a close. */
function closedWithin<T>(closed: Promise<T>, ms: number): Promise<T | 'still open'> {
  return Promise.race([closed, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms))]);
}
