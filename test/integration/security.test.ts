import { createPublicKey, verify } from 'node:crypto';
import net from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyHexSignature } from '../../src/delivery/signature';
import {
  CreateApiKeyDocument,
  CreateApplicationDocument,
  DeliveryDocument,
  DeliveryUpdatedDocument,
  type DeliveryUpdatedSubscription,
  EndpointsDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  RotateEndpointSecretDocument,
  SetEndpointAsymmetricSignaturesDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase, query } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { type ReceivedRequest, WebhookReceiver } from '../helpers/receiver';

const PUBLIC_V4 = '93.184.216.34';
const RESOLVES: Record<string, string> = {
  'public.example': PUBLIC_V4,
  'loopback.example': '127.0.0.1',
  'metadata.example': '169.254.169.254',
};

describe('SSRF protection in the delivery pipeline', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  const dialled: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await WebhookReceiver.start();
    herald = await startTestHerald(database.url, {
      // Production defaults: nothing private is allowed.
      config: {
        ssrf: { allowCidrs: [], allowLoopback: false },
        delivery: { ...testDelivery(), retry: { ...testDelivery().retry, maxAttempts: 1 } },
      },
      network: {
        // public.example resolves to a public address (the dialler records it and reaches the local receiver);
        // two names resolve to addresses delivery refuses (literal addresses are refused at registration).
        lookup: async (hostname) => {
          const address = RESOLVES[hostname];
          if (!address) throw Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
          return [{ address, family: 4 }];
        },
        dial: (options, callback) => {
          dialled.push(options.hostname);
          const socket = net.connect({ host: '127.0.0.1', port: Number(new URL(receiver.url).port) });
          socket.once('connect', () => callback(null, socket));
          socket.once('error', (error) => callback(error, null));
        },
      },
    });
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it('records a refused delivery as a BLOCKED attempt that says how to allow it, and delivers to public targets', async () => {
    const loopbackUrl = receiver.url.replace('127.0.0.1', 'loopback.example');
    await herald.call(RegisterEndpointDocument, { input: { url: loopbackUrl, eventTypes: ['blocked.*'] } });
    await herald.call(RegisterEndpointDocument, { input: { url: 'http://metadata.example/latest/meta-data/', eventTypes: ['blocked.*'] } });
    await herald.call(RegisterEndpointDocument, { input: { url: 'http://public.example/hooks', eventTypes: ['public.*'] } });
    const blocked = await herald.call(PublishEventDocument, { input: { type: 'blocked.try', data: {} } });
    const published = await herald.call(PublishEventDocument, { input: { type: 'public.try', data: { ok: true } } });

    for (const { id } of blocked.publishEvent.deliveries) {
      const { delivery } = await waitUntil(
        () => herald.call(DeliveryDocument, { id }),
        (result) => result.delivery.status === 'DEAD',
      );
      expect(delivery.attempts).toHaveLength(1);
      expect(delivery.attempts[0]).toMatchObject({ errorKind: 'BLOCKED', responseStatus: null });
      expect(delivery.attempts[0]!.errorMessage).toMatch(
        /^Blocked by SSRF protection: .* To deliver there on purpose, add it .* to SSRF_ALLOW_CIDRS\.$/,
      );
      expect(delivery.lastErrorKind).toBe('BLOCKED');
    }
    const { delivery } = await waitUntil(
      () => herald.call(DeliveryDocument, { id: published.publishEvent.deliveries[0]!.id }),
      (result) => result.delivery.status === 'SUCCEEDED',
    );
    expect(delivery.attempts[0]).toMatchObject({ responseStatus: 200, errorKind: null });
    // Only the public address was ever dialled, and the receiver got only that delivery.
    expect(dialled).toEqual([PUBLIC_V4]);
    expect(receiver.requests.map((request) => request.headers['webhook-id'])).toEqual([published.publishEvent.id]);
  });
});

/** The suite's usual delivery settings (fast retries), from the shared test configuration. */
function testDelivery() {
  return testConfig('postgres://unused').delivery;
}

describe('secret rotation and signatures', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await WebhookReceiver.start();
    herald = await startTestHerald(database.url);
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  const headersOf = (request: ReceivedRequest) => request.headers as Record<string, string>;
  const accepts = (secret: string, request: ReceivedRequest) => {
    try {
      new Webhook(secret).verify(request.body, headersOf(request));
      return true;
    } catch {
      return false;
    }
  };

  it('during the grace period receivers on the old and on the new secret both accept the same delivery; after it only the new one', async () => {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { url: receiver.url } });
    const oldSecret = registerEndpoint.secret;
    const { rotateEndpointSecret } = await herald.call(RotateEndpointSecretDocument, {
      id: registerEndpoint.endpoint.id,
      gracePeriodSeconds: 3,
    });
    const newSecret = rotateEndpointSecret.secret;
    expect(newSecret).not.toBe(oldSecret);
    expect(Date.parse(rotateEndpointSecret.endpoint.previousSecretsValidUntil!)).toBeGreaterThan(Date.now());

    await herald.call(PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-1', during: true } } });
    const [during] = await receiver.waitForRequests(1);
    expect(headersOf(during!)['webhook-signature']!.split(' ')).toHaveLength(2);
    expect(accepts(oldSecret, during!)).toBe(true);
    expect(accepts(newSecret, during!)).toBe(true);
    // The compatibility header is keyed with the newest secret only.
    expect(headersOf(during!)['x-webhook-signature']).toBe(legacyHexSignature(newSecret, during!.body));

    await waitUntil(
      async () => Date.now(),
      (now) => now > Date.parse(rotateEndpointSecret.endpoint.previousSecretsValidUntil!) + 200,
      10_000,
      100,
    );
    await herald.call(PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-1', during: false } } });
    const after = (await receiver.waitForRequests(2))[1]!;
    expect(headersOf(after)['webhook-signature']!.split(' ')).toHaveLength(1);
    expect(accepts(newSecret, after)).toBe(true);
    expect(accepts(oldSecret, after)).toBe(false);
  });

  it('refuses a grace period over 7 days', async () => {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { url: receiver.url, eventTypes: ['none'] } });
    const result = await herald.request(RotateEndpointSecretDocument, { id: registerEndpoint.endpoint.id, gracePeriodSeconds: 8 * 86_400 });
    expect(result.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'gracePeriodSeconds' } });
  });

  it('adds an ed25519 v1a signature that verifies with the published public key', async () => {
    const application = (await herald.call(CreateApplicationDocument, { input: { name: 'v1a' } })).createApplication.id;
    const target = await WebhookReceiver.start();
    try {
      const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { applicationId: application, url: target.url } });
      const { setEndpointAsymmetricSignatures } = await herald.call(SetEndpointAsymmetricSignaturesDocument, {
        id: registerEndpoint.endpoint.id,
        enabled: true,
      });
      const publicKey = setEndpointAsymmetricSignatures.publicKey!;
      expect(publicKey).toMatch(/^whpk_/);
      await herald.call(PublishEventDocument, {
        input: { applicationId: application, type: 'order.created', data: { orderId: 'O-1', n: 1 } },
      });
      const [request] = await target.waitForRequests(1);
      const headers = headersOf(request!);
      const signatures = headers['webhook-signature']!.split(' ');
      const v1a = signatures.find((signature) => signature.startsWith('v1a,'))!;
      const key = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey.slice(5), 'base64').toString('base64url') },
        format: 'jwk',
      });
      const signed = Buffer.from(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${request!.body}`);
      expect(verify(null, signed, key, Buffer.from(v1a.slice(4), 'base64'))).toBe(true);
      expect(verify(null, Buffer.from(`${signed.toString()}x`), key, Buffer.from(v1a.slice(4), 'base64'))).toBe(false);
      expect(accepts(registerEndpoint.secret, request!)).toBe(true);
    } finally {
      await target.close();
    }
  });

  it('stores secrets encrypted: the database holds no whsec_ value', async () => {
    const rows = await query<{ secret: string; previous_secrets: unknown; signing_key: string | null }>(
      database.url,
      'select secret, previous_secrets, signing_key from endpoints',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) {
      expect(row.secret).toMatch(/^enc:v1:/);
      expect(JSON.stringify(row)).not.toMatch(/whsec_|whsk_/);
    }
  });
});

describe('nothing secret is logged or returned during a full scenario', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await WebhookReceiver.start((_request, index) => (index === 0 ? { status: 500, body: 'try again' } : { status: 200 }));
    herald = await startTestHerald(database.url);
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it('greps every log line, response and subscription payload for secrets, signatures, keys and Authorization values', async () => {
    const returned: string[] = [];
    const shownOnce: string[] = [];
    const record = async <T>(promise: Promise<T>, list = returned) => {
      const value = await promise;
      list.push(JSON.stringify(value));
      return value;
    };
    const client = herald.wsClient();
    const updates = new SubscriptionRecorder<DeliveryUpdatedSubscription>(client, DeliveryUpdatedDocument, {});
    await updates.ready;

    const { createApplication } = await record(herald.call(CreateApplicationDocument, { input: { name: 'Leaky' } }));
    const created = await record(
      herald.call(CreateApiKeyDocument, { input: { name: 'portal', applicationId: createApplication.id } }),
      shownOnce,
    );
    const appKey = created.createApiKey.key;
    const customAuthorization = 'Bearer customer-receiver-token-0123456789';
    const registered = await record(
      herald.callAs(appKey, RegisterEndpointDocument, {
        input: { url: receiver.url, headers: { Authorization: customAuthorization, 'X-Api-Key': 'receiver-api-key-abcdef' } },
      }),
      shownOnce,
    );
    const rotated = await record(
      herald.callAs(appKey, RotateEndpointSecretDocument, { id: registered.registerEndpoint.endpoint.id }),
      shownOnce,
    );
    await record(
      herald.callAs(appKey, SetEndpointAsymmetricSignaturesDocument, { id: registered.registerEndpoint.endpoint.id, enabled: true }),
    );
    const { publishEvent } = await record(
      herald.callAs(appKey, PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-1', n: 1 } } }),
    );
    await updates.waitFor((all) => all.some((update) => update.deliveryUpdated.delivery.status === 'SUCCEEDED'));
    await record(herald.callAs(appKey, DeliveryDocument, { id: publishEvent.deliveries[0]!.id }));
    await record(herald.callAs(appKey, EndpointsDocument, {}));
    // Refusals quote nothing they were given.
    await record(herald.request(EndpointsDocument, {}, { authorization: `Bearer ${appKey.slice(0, -2)}xx` }));
    await record(herald.request(EndpointsDocument, {}, { authorization: `Bearer ${herald.adminKey}extra` }));

    // A database failure while writing an endpoint: the driver's error message quotes the SQL and its values.
    await query(
      database.url,
      `create function refuse_endpoint() returns trigger language plpgsql as $$ begin raise exception 'refusing endpoint %', new; end $$;
       create trigger refuse_endpoint before insert on endpoints for each row when (new.description = 'boom') execute function refuse_endpoint();`,
    );
    const ownSecret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const failed = await record(
      herald.request(RegisterEndpointDocument, { input: { url: receiver.url, description: 'boom', secret: ownSecret } }, {}),
    );
    expect(failed.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(herald.logs.some((line) => line.includes('refusing endpoint'))).toBe(true);
    returned.push(...updates.results.map((result) => JSON.stringify(result)));

    const requests = await receiver.waitForRequests(2);
    const signatures = requests.flatMap((request) => [
      ...String(request.headers['webhook-signature'])
        .split(' ')
        .map((signature) => signature.split(',')[1]!),
      String(request.headers['x-webhook-signature']),
    ]);
    const secrets = [registered.registerEndpoint.secret, rotated.rotateEndpointSecret.secret, ownSecret];
    const forbidden = [
      ...secrets,
      ...secrets.map((secret) => secret.slice('whsec_'.length)),
      herald.adminKey,
      herald.adminKey.slice(12),
      appKey,
      appKey.slice(12),
      customAuthorization,
      'customer-receiver-token-0123456789',
      'receiver-api-key-abcdef',
      ...signatures,
    ];
    expect(signatures.length).toBeGreaterThanOrEqual(6);
    const everything = [...herald.logs, ...returned];
    expect(everything.length).toBeGreaterThan(15);
    for (const needle of forbidden) {
      const hits = everything.filter((text) => text.includes(needle));
      expect(hits, `found ${needle.slice(0, 12)}...`).toEqual([]);
    }
    for (const pattern of [/whsec_[A-Za-z0-9+/]{20}/, /whsk_[A-Za-z0-9+/]{20}/, /hk_[0-9a-z]{8}_[A-Za-z0-9_-]{20}/, /Bearer [A-Za-z0-9]/]) {
      expect(
        everything.filter((text) => pattern.test(text)),
        String(pattern),
      ).toEqual([]);
    }
    // What was shown once really did contain them: the grep above would have found them.
    expect(shownOnce.join('\n')).toContain(rotated.rotateEndpointSecret.secret);
  });
});
