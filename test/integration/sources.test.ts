import { createHmac, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  CreateSourceDocument,
  DeliveriesDocument,
  RegisterEndpointDocument,
  SourcesDocument,
} from '../../src/sdk/generated/graphql';
import { signWebhook } from '../../src/sdk';
import { heraldTestWith } from '../helpers/fixtures';
import { query } from '../helpers/database';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

describe('inbound sources: POST /ingest/<sourceId>', () => {
  let database: { url: string };
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  let applicationId: string;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    receiver = await WebhookReceiver.start();
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'inbound' } });
    applicationId = createApplication.id;
    await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: receiver.url, eventTypes: ['github.*', 'stripe.*', 'partner.*', 'acme.*'] },
    });
  });
  afterAll(async () => {
    await receiver?.close();
  });

  async function createSource(input: Record<string, unknown>) {
    const { createSource: created } = await herald.call(CreateSourceDocument, { input: { applicationId, name: 'src', ...input } as never });
    return created;
  }

  const post = (path: string, body: string, headers: Record<string, string>) =>
    fetch(`${herald.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  const eventCount = async () =>
    Number((await query<{ n: string }>(database.url, 'select count(*) as n from events where application_id = $1', [applicationId]))[0]!.n);
  const inboundCount = async () => Number((await query<{ n: string }>(database.url, 'select count(*) as n from inbound_requests'))[0]!.n);

  async function expectDelivered(eventId: string, type: string) {
    const requests = await waitUntil(
      async () => receiver.requests.filter((request) => request.headers['webhook-id'] === eventId),
      (found) => found.length === 1,
    );
    expect(JSON.parse(requests[0]!.body)).toMatchObject({ id: eventId, event: type });
    await waitUntil(
      () => herald.call(DeliveriesDocument, { filter: { eventId } }),
      (result) => result.deliveries.nodes.length === 1 && result.deliveries.nodes[0]!.status === 'SUCCEEDED',
    );
    return JSON.parse(requests[0]!.body) as { data: Record<string, unknown> };
  }

  it('turns a GitHub-signed request into a delivered event and refuses a tampered one with 401', async () => {
    const secret = 'github-webhook-secret';
    const { source } = await createSource({ scheme: 'GITHUB', secret });
    expect(source).toMatchObject({
      scheme: 'GITHUB',
      eventTypeHeader: 'x-github-event',
      eventTypePrefix: 'github.',
      ingestPath: `/ingest/${source.id}`,
    });
    const body = JSON.stringify({ action: 'opened', pull_request: { number: 7 } });
    const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    const headers = { 'x-github-event': 'pull_request', 'x-github-delivery': 'gh-delivery-1', 'x-hub-signature-256': signature };

    const before = { events: await eventCount(), inbound: await inboundCount() };
    const tampered = await post(source.ingestPath, body.replace('"number":7', '"number":8'), headers);
    expect(tampered.status).toBe(401);
    expect(await tampered.json()).toMatchObject({ error: 'INVALID_SIGNATURE' });
    const unsigned = await post(source.ingestPath, body, { 'x-github-event': 'push' });
    expect(unsigned.status).toBe(401);
    expect({ events: await eventCount(), inbound: await inboundCount() }).toEqual(before);

    const accepted = await post(source.ingestPath, body, headers);
    expect(accepted.status).toBe(202);
    const { eventId, duplicate } = (await accepted.json()) as { eventId: string; duplicate: boolean };
    expect(duplicate).toBe(false);
    const delivered = await expectDelivered(eventId, 'github.pull_request');
    expect(delivered.data).toEqual({ action: 'opened', pull_request: { number: 7 } });

    // The raw request is stored, signature redacted, linked to the event.
    const [stored] = await query<{ body: string; headers: Record<string, string>; event_id: string }>(
      database.url,
      'select body, headers, event_id from inbound_requests where source_id = $1',
      [source.id],
    );
    expect(stored).toMatchObject({ body, event_id: eventId });
    expect(stored!.headers['x-hub-signature-256']).toBe('[redacted]');
    expect(stored!.headers['x-github-event']).toBe('pull_request');

    // GitHub redelivers with the same X-GitHub-Delivery: the same event, not a second one.
    const again = await post(source.ingestPath, body, headers);
    expect(await again.json()).toMatchObject({ eventId, duplicate: true });
  });

  it('turns a Stripe-signed request into a delivered event and refuses a tampered or stale one with 401', async () => {
    const secret = `whsec_${randomBytes(24).toString('hex')}`;
    const { source } = await createSource({ scheme: 'STRIPE', secret });
    const body = JSON.stringify({ id: 'evt_stripe_1', type: 'payment_intent.succeeded', data: { object: { amount: 2000 } } });
    const stripeSignature = (payload: string, t = Math.floor(Date.now() / 1000)) =>
      `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex')},v0=ignored`;

    const before = await eventCount();
    expect((await post(source.ingestPath, body.replace('2000', '1'), { 'stripe-signature': stripeSignature(body) })).status).toBe(401);
    const stale = await post(source.ingestPath, body, { 'stripe-signature': stripeSignature(body, Math.floor(Date.now() / 1000) - 600) });
    expect(stale.status).toBe(401);
    expect(await eventCount()).toBe(before);

    const accepted = await post(source.ingestPath, body, { 'stripe-signature': stripeSignature(body) });
    expect(accepted.status).toBe(202);
    const { eventId } = (await accepted.json()) as { eventId: string };
    const delivered = await expectDelivered(eventId, 'stripe.payment_intent.succeeded');
    expect(delivered.data).toMatchObject({ id: 'evt_stripe_1', data: { object: { amount: 2000 } } });
  });

  it('verifies Standard Webhooks and generic HMAC sources', async () => {
    const { source: standard, secret } = await createSource({ scheme: 'STANDARD_WEBHOOKS', eventTypePrefix: 'partner.' });
    expect(secret).toMatch(/^whsec_/);
    const body = JSON.stringify({ type: 'invoice.paid', amount: 5 });
    const ok = await post(standard.ingestPath, body, signWebhook({ secret, body }));
    expect(ok.status).toBe(202);
    await expectDelivered(((await ok.json()) as { eventId: string }).eventId, 'partner.invoice.paid');
    expect(
      (await post(standard.ingestPath, body, signWebhook({ secret: `whsec_${randomBytes(32).toString('base64')}`, body }))).status,
    ).toBe(401);

    const { source: hmac, secret: hmacSecret } = await createSource({
      scheme: 'HMAC',
      hmacHeader: 'X-Acme-Signature',
      defaultEventType: 'acme.notification',
    });
    const acmeBody = '{"hello":"acme"}';
    const mac = createHmac('sha256', hmacSecret).update(acmeBody);
    const accepted = await post(hmac.ingestPath, acmeBody, { 'x-acme-signature': mac.digest('base64') });
    expect(accepted.status).toBe(202);
    await expectDelivered(((await accepted.json()) as { eventId: string }).eventId, 'acme.notification');
    expect((await post(hmac.ingestPath, acmeBody, { 'x-acme-signature': 'deadbeef' })).status).toBe(401);
  });

  it("publishes a provider's JSON object byte for byte: number spelling, key order and big integers kept", async () => {
    const secret = 'github-webhook-secret';
    const { source } = await createSource({ scheme: 'GITHUB', secret });
    const body = '{"zeta": 1.0, "action": "opened", "id": 12345678901234567890, "2": 0, "1": 0}';
    const signature = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    const accepted = await post(source.ingestPath, body, {
      'x-github-event': 'issues',
      'x-github-delivery': 'gh-exact-1',
      'x-hub-signature-256': signature,
    });
    expect(accepted.status).toBe(202);
    const { eventId } = (await accepted.json()) as { eventId: string };
    await expectDelivered(eventId, 'github.issues');
    const [request] = receiver.requests.filter((received) => received.headers['webhook-id'] === eventId);
    expect(request!.body).toContain(`"data":${body},`);
  });

  it('answers 404 for an unknown source and lists sources without their secrets', async () => {
    expect((await post('/ingest/src_nope', '{}', {})).status).toBe(404);
    const { sources } = await herald.call(SourcesDocument, { applicationId });
    expect(sources.length).toBeGreaterThanOrEqual(4);
    expect(JSON.stringify(sources)).not.toContain('github-webhook-secret');
  });

  it('stores every source secret encrypted: the database holds none in plain text', async () => {
    const { secret } = await createSource({ scheme: 'HMAC', hmacHeader: 'X-Sealed', defaultEventType: 'sealed.check' });
    const rows = await query<{ id: string; secret: string }>(database.url, 'select id, secret from sources');
    expect(rows.length).toBeGreaterThanOrEqual(5);
    for (const row of rows) {
      expect(row.secret).toMatch(/^enc:v1:/);
      expect(row.secret).not.toContain(secret);
      expect(row.secret).not.toMatch(/github-webhook-secret|whsec_/);
    }
  });

  it('refuses a source without a way to find the event type', async () => {
    const result = await herald.request(CreateSourceDocument, { input: { applicationId, name: 'x', scheme: 'HMAC' } });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/eventTypeHeader.*eventTypePath.*defaultEventType/);
  });
});
