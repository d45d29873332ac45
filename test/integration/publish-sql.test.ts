import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AddEventTypeVersionDocument,
  CreateApplicationDocument,
  DeliveriesDocument,
  DisableEndpointDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { query } from '../helpers/database';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

/**
 * herald.publish_event(...) inside the producer's own transaction: the producer's business table and
 * Herald's tables are in one PostgreSQL, so the webhook exists if and only if the business write commits.
 */
describe('herald.publish_event: publishing inside the producer transaction (SQL)', () => {
  let database: { url: string };
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  let producer: pg.Client;
  let applicationId: string;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    receiver = await WebhookReceiver.start();
    producer = new pg.Client({ connectionString: database.url });
    await producer.connect();
    await producer.query('create table shop_orders (id text primary key, amount numeric not null)');
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'shop' } });
    applicationId = createApplication.id;
    await herald.call(RegisterEndpointDocument, { input: { applicationId, url: `${receiver.url}?orders`, eventTypes: ['order.*'] } });
    await herald.call(RegisterEndpointDocument, { input: { applicationId, url: `${receiver.url}?all`, eventTypes: ['*'] } });
    await herald.call(RegisterEndpointDocument, { input: { applicationId, url: `${receiver.url}?payments`, eventTypes: ['payment.*'] } });
  });
  afterAll(async () => {
    await producer?.end();
    await receiver?.close();
  });

  const eventsOfType = (type: string) =>
    query<{ id: string }>(database.url, 'select id from events where application_id = $1 and type = $2', [applicationId, type]);

  it('publishes nothing when the producer transaction rolls back', async () => {
    await producer.query('begin');
    await producer.query("insert into shop_orders values ('ORD-RB', 10)");
    const { rows } = await producer.query<{ id: string }>("select herald.publish_event('order.created', $1::json, null, $2) as id", [
      JSON.stringify({ orderId: 'ORD-RB' }),
      applicationId,
    ]);
    expect(rows[0]!.id).toMatch(/^evt_[0-9a-z]{26}$/);
    await producer.query('rollback');

    expect(await query(database.url, "select * from shop_orders where id = 'ORD-RB'")).toEqual([]);
    expect(await query(database.url, 'select * from events where id = $1', [rows[0]!.id])).toEqual([]);
    expect(await query(database.url, 'select * from deliveries where event_id = $1', [rows[0]!.id])).toEqual([]);
    const [jobs] = await query<{ count: string }>(
      database.url,
      "select count(*) from graphile_worker._private_jobs where payload::text like '%' || $1 || '%'",
      [rows[0]!.id],
    );
    expect(Number(jobs!.count)).toBe(0);
    // A sentinel committed after the rollback: once it is delivered to both endpoints, so would the rolled-back event be.
    const { rows: sentinel } = await producer.query<{ id: string }>(
      "select herald.publish_event('order.created', $1::json, null, $2) as id",
      [JSON.stringify({ orderId: 'ORD-RB-SENTINEL' }), applicationId],
    );
    await waitUntil(
      async () => receiver.requests.filter((request) => request.headers['webhook-id'] === sentinel[0]!.id).length,
      (count) => count >= 1,
    );
    expect(receiver.requests.filter((request) => request.body.includes('"ORD-RB"'))).toEqual([]);
  });

  it('delivers, signed, to the matching endpoints (wildcards included) once the transaction commits', async () => {
    const data = '{"orderId":"ORD-OK","amount":10.50,"note":"exact bytes"}';
    await producer.query('begin');
    await producer.query("insert into shop_orders values ('ORD-OK', 10.5)");
    const { rows } = await producer.query<{ id: string }>(
      "select herald.publish_event('order.created', $1::json, 'order-ORD-OK', $2) as id",
      [data, applicationId],
    );
    const eventId = rows[0]!.id;
    // Not visible to anyone before the commit.
    expect(await query(database.url, 'select * from events where id = $1', [eventId])).toEqual([]);
    await producer.query('commit');

    const received = await waitUntil(
      async () => receiver.requests.filter((request) => request.headers['webhook-id'] === eventId),
      (requests) => requests.length >= 2,
    );
    expect(received.map((request) => request.path.split('?')[1]).sort()).toEqual(['all', 'orders']);
    const body = received[0]!.body;
    expect(body).toContain(`"data":${data}`);
    expect(JSON.parse(body)).toMatchObject({ id: eventId, event: 'order.created', version: '1.0', attempt: 1 });
    const { deliveries } = await herald.call(DeliveriesDocument, { filter: { eventId } });
    await waitUntil(
      () => herald.call(DeliveriesDocument, { filter: { eventId } }),
      (result) => result.deliveries.nodes.length === 2 && result.deliveries.nodes.every((d) => d.status === 'SUCCEEDED'),
    );
    expect(deliveries.nodes).toHaveLength(2);
  });

  it('is idempotent per application key, like publishEvent', async () => {
    const call = () =>
      producer.query<{ id: string }>("select herald.publish_event('payment.succeeded', $1::json, 'pay-1', $2) as id", [
        JSON.stringify({ paymentId: 'P-1' }),
        applicationId,
      ]);
    const first = (await call()).rows[0]!.id;
    const second = (await call()).rows[0]!.id;
    expect(second).toBe(first);
    expect(await eventsOfType('payment.succeeded')).toHaveLength(1);
    expect(await query(database.url, 'select id from deliveries where event_id = $1', [first])).toHaveLength(2);
  });

  it('respects version pins and disabled endpoints', async () => {
    await herald.call(AddEventTypeVersionDocument, {
      input: { name: 'invoice.issued', version: '2.0', schema: { type: 'object', required: ['invoiceId'] }, example: { invoiceId: 'I-0' } },
    });
    const { registerEndpoint: disabled } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: `${receiver.url}?disabled`, eventTypes: ['invoice.*'] },
    });
    await herald.call(DisableEndpointDocument, { id: disabled.endpoint.id });
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: `${receiver.url}?pinned`, eventTypes: ['invoice.issued'], eventVersions: { 'invoice.issued': '1.0' } },
    });
    const v2 = (
      await producer.query<{ id: string }>(
        "select herald.publish_event('invoice.issued', '{\"invoiceId\":\"I-2\"}', null, $1, '2.0') as id",
        [applicationId],
      )
    ).rows[0]!.id;
    const v1 = (
      await producer.query<{ id: string }>('select herald.publish_event(\'invoice.issued\', \'{"invoiceId":"I-1"}\', null, $1) as id', [
        applicationId,
      ])
    ).rows[0]!.id;
    const endpointsOf = async (eventId: string) =>
      (await query<{ endpoint_id: string }>(database.url, 'select endpoint_id from deliveries where event_id = $1', [eventId])).map(
        (r) => r.endpoint_id,
      );
    expect(await endpointsOf(v1)).toContain(registerEndpoint.endpoint.id);
    expect(await endpointsOf(v2)).not.toContain(registerEndpoint.endpoint.id);
    expect(await endpointsOf(v2)).toHaveLength(1);
    expect([...(await endpointsOf(v1)), ...(await endpointsOf(v2))]).not.toContain(disabled.endpoint.id);
    await expect(
      producer.query("select herald.publish_event('invoice.issued', '{\"invoiceId\":\"I-3\"}', null, $1, '9.9')", [applicationId]),
    ).rejects.toThrow(/has no version '9.9' in the catalog/);
  });

  it("keeps an ordered endpoint's FIFO order: SQL and API publishes share its sequence, one delivery in flight at a time", async () => {
    let inFlight = 0;
    let most = 0;
    const target = await WebhookReceiver.start(() => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      // Counted until just before the answer (50 ms): a next request can only come after it.
      setTimeout(() => (inFlight -= 1), 45);
      return { status: 200, delayMs: 50 };
    });
    try {
      const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'fifo from sql' } });
      const fifoApplication = createApplication.id;
      await herald.call(RegisterEndpointDocument, { input: { applicationId: fifoApplication, url: target.url, ordered: true } });
      const published: string[] = [];
      await producer.query('begin');
      for (let i = 0; i < 3; i++) {
        const { rows } = await producer.query<{ id: string }>('select herald.publish_event($1, $2::json, null, $3) as id', [
          'fifo.step',
          JSON.stringify({ i }),
          fifoApplication,
        ]);
        published.push(rows[0]!.id);
      }
      await producer.query('commit');
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { applicationId: fifoApplication, type: 'fifo.step', data: { i: 3 } },
      });
      published.push(publishEvent.id);
      const { rows: more } = await producer.query<{ id: string }>('select herald.publish_event($1, $2::json, null, $3) as id', [
        'fifo.step',
        JSON.stringify({ i: 4 }),
        fifoApplication,
      ]);
      published.push(more[0]!.id);

      await target.waitForRequests(5, 20_000);
      expect(target.requests.map((request) => request.headers['webhook-id'])).toEqual(published);
      expect(target.requests.map((request) => request.headers['webhook-sequence'])).toEqual(['1', '2', '3', '4', '5']);
      expect(most).toBe(1);
    } finally {
      await target.close();
    }
  });

  it("orders the events of one ordering_key on an unordered endpoint, as publishEvent's orderingKey does", async () => {
    const target = await WebhookReceiver.start(() => ({ status: 200, delayMs: 30 }));
    try {
      const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'keyed from sql' } });
      await herald.call(RegisterEndpointDocument, { input: { applicationId: createApplication.id, url: target.url } });
      const keyed: Record<string, string[]> = { a: [], b: [] };
      for (let i = 0; i < 3; i++) {
        for (const key of ['a', 'b']) {
          const { rows } = await producer.query<{ id: string }>('select herald.publish_event($1, $2::json, null, $3, $4, $5) as id', [
            'fifo.step',
            JSON.stringify({ i, key }),
            createApplication.id,
            '1.0',
            key,
          ]);
          keyed[key]!.push(rows[0]!.id);
        }
      }
      const stored = await query<{ ordering_group: string; sequence: string; ordering_key: string }>(
        database.url,
        `select d.ordering_group, d.sequence, e.ordering_key from deliveries d join events e on e.id = d.event_id
          where d.application_id = $1 order by d.ordering_group, d.sequence`,
        [createApplication.id],
      );
      expect(stored.map((row) => [row.ordering_group.split(':')[1], row.sequence, row.ordering_key])).toEqual([
        ['a', '1', 'a'],
        ['a', '2', 'a'],
        ['a', '3', 'a'],
        ['b', '1', 'b'],
        ['b', '2', 'b'],
        ['b', '3', 'b'],
      ]);
      await target.waitForRequests(6, 20_000);
      for (const key of ['a', 'b']) {
        const ids = target.requests.map((request) => String(request.headers['webhook-id'])).filter((id) => keyed[key]!.includes(id));
        expect(ids).toEqual(keyed[key]);
      }
      await expect(
        producer.query("select herald.publish_event('fifo.step', '{}', null, $1, '1.0', '')", [createApplication.id]),
      ).rejects.toThrow(/ordering_key must be 1 to 255 characters/);
    } finally {
      await target.close();
    }
  });

  it('refuses a grouped publish outside READ COMMITTED (it could miss a predecessor finishing), and takes an unordered one', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'isolation' } });
    await herald.call(RegisterEndpointDocument, { input: { applicationId: createApplication.id, url: receiver.url, ordered: true } });
    await producer.query('begin isolation level repeatable read');
    await expect(producer.query("select herald.publish_event('fifo.step', '{}', null, $1)", [createApplication.id])).rejects.toThrow(
      /needs a READ COMMITTED transaction, not REPEATABLE READ/,
    );
    await producer.query('rollback');
    await producer.query('begin isolation level repeatable read');
    const { rows } = await producer.query<{ id: string }>(
      'select herald.publish_event(\'order.created\', \'{"orderId":"RR"}\', null, $1) as id',
      [applicationId],
    );
    await producer.query('commit');
    expect(rows[0]!.id).toMatch(/^evt_/);
  });

  it('refuses bad input with a clear error and leaves the transaction to the caller', async () => {
    await expect(producer.query("select herald.publish_event('bad type!', '{}')")).rejects.toThrow(/not a valid event type/);
    await expect(producer.query("select herald.publish_event('order.created', '[1,2]')")).rejects.toThrow(/data must be a JSON object/);
    await expect(producer.query("select herald.publish_event('order.created', '{}', null, 'app_nope')")).rejects.toThrow(
      /no application with id/,
    );
  });
});
