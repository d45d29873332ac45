import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeliveriesDocument,
  PublishEventDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { jobCarries, query } from '../helpers/database';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

describe('publishEvent: one transaction, idempotent', () => {
  let database: { url: string };
  let herald: TestHerald;
  let receiver: WebhookReceiver;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  async function applicationWithEndpoints(count: number): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'publish test' } });
    for (let i = 0; i < count; i++) {
      await herald.call(RegisterEndpointDocument, { input: { url: `${receiver.url}?endpoint=${i}`, applicationId: createApplication.id } });
    }
    return createApplication.id;
  }

  async function counts(applicationId: string) {
    const [row] = await query<{ events: string; deliveries: string; jobs: string }>(
      database.url,
      `select (select count(*) from events where application_id = $1) as events,
              (select count(*) from deliveries where application_id = $1) as deliveries,
              (select count(*) from graphile_worker._private_jobs j
                 join graphile_worker._private_tasks t on t.id = j.task_id
                 where t.identifier = 'deliver'
                   and exists (select 1 from deliveries d where d.application_id = $1 and ${jobCarries('j', 'd')})) as jobs`,
      [applicationId],
    );
    return { events: Number(row!.events), deliveries: Number(row!.deliveries), jobs: Number(row!.jobs) };
  }

  it('returns the same event for the same idempotency key, with one set of deliveries', async () => {
    const applicationId = await applicationWithEndpoints(2);
    const input = { type: 'order.created', data: { orderId: 'A-1' }, applicationId, idempotencyKey: 'order-A-1' };
    const first = await herald.call(PublishEventDocument, { input });
    // The same event again (a different one with this key is refused: test/integration/idempotency-reuse.test.ts).
    const second = await herald.call(PublishEventDocument, { input });
    expect(second.publishEvent.id).toBe(first.publishEvent.id);
    expect(second.publishEvent.data).toEqual({ orderId: 'A-1' });
    expect(second.publishEvent.deliveries.map((d) => d.id).sort()).toEqual(first.publishEvent.deliveries.map((d) => d.id).sort());

    const { deliveries } = await herald.call(DeliveriesDocument, { filter: { eventId: first.publishEvent.id } });
    expect(deliveries.nodes).toHaveLength(2);
    await waitUntil(
      () => herald.call(DeliveriesDocument, { filter: { eventId: first.publishEvent.id } }),
      (r) => r.deliveries.nodes.every((d) => d.status === 'SUCCEEDED'),
    );
    const received = receiver.requests.filter((r) => r.headers['webhook-id'] === first.publishEvent.id);
    expect(received).toHaveLength(2);
    expect(await counts(applicationId)).toMatchObject({ events: 1, deliveries: 2 });
  });

  it('deduplicates an event repeated with its key within one publishEvents call and fans out only the events it inserted', async () => {
    const applicationId = await applicationWithEndpoints(2);
    const earlier = await herald.call(PublishEventDocument, {
      input: { type: 'order.created', data: { orderId: 'dedup-0' }, applicationId, idempotencyKey: 'earlier' },
    });
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [
        { type: 'order.created', data: { orderId: 'dedup-1' }, applicationId, idempotencyKey: 'batch-key' },
        { type: 'order.created', data: { orderId: 'dedup-1' }, applicationId, idempotencyKey: 'batch-key' },
        { type: 'order.created', data: { orderId: 'dedup-0' }, applicationId, idempotencyKey: 'earlier' },
        { type: 'order.created', data: { orderId: 'dedup-4' }, applicationId },
      ],
    });
    expect(publishEvents).toHaveLength(4);
    expect(publishEvents[1]!.id).toBe(publishEvents[0]!.id);
    expect(publishEvents[2]!.id).toBe(earlier.publishEvent.id);
    expect(new Set(publishEvents.map((event) => event.id)).size).toBe(3);
    // The earlier event's 2 deliveries, and 2 for each of the 2 events this call inserted: each with its job.
    expect(await counts(applicationId)).toEqual({ events: 3, deliveries: 6, jobs: expect.any(Number) as number });
    await waitUntil(
      () => counts(applicationId),
      (c) => c.jobs === 0,
    );
    const [row] = await query<{ n: string }>(
      database.url,
      `select count(*) as n from deliveries where application_id = $1 and status = 'SUCCEEDED'`,
      [applicationId],
    );
    expect(Number(row!.n)).toBe(6);
    const ids = new Set([earlier.publishEvent.id, ...publishEvents.map((event) => event.id)]);
    expect(receiver.requests.filter((r) => ids.has(String(r.headers['webhook-id'])))).toHaveLength(6);
  });

  it('lets concurrent publishes with one key create exactly one event', async () => {
    const applicationId = await applicationWithEndpoints(1);
    const input = { type: 'payment.succeeded', data: { paymentId: 'p1' }, applicationId, idempotencyKey: 'pay-1' };
    const results = await Promise.all(Array.from({ length: 8 }, () => herald.call(PublishEventDocument, { input })));
    expect(new Set(results.map((r) => r.publishEvent.id)).size).toBe(1);
    expect(await counts(applicationId)).toMatchObject({ events: 1, deliveries: 1 });
  });

  it('scopes idempotency keys to the application', async () => {
    const first = await applicationWithEndpoints(0);
    const second = await applicationWithEndpoints(0);
    const a = await herald.call(PublishEventDocument, {
      input: { type: 'user.updated', data: { userId: 'u1' }, applicationId: first, idempotencyKey: 'k' },
    });
    const b = await herald.call(PublishEventDocument, {
      input: { type: 'user.updated', data: { userId: 'u1' }, applicationId: second, idempotencyKey: 'k' },
    });
    expect(a.publishEvent.id).not.toBe(b.publishEvent.id);
  });

  it('leaves no event, delivery or job behind when a step after the event insert fails', async () => {
    const applicationId = await applicationWithEndpoints(3);
    // Make the job insert (the last step of the transaction) fail, as a full disk or a bug would.
    await query(
      database.url,
      `create function refuse_jobs() returns trigger language plpgsql as $$ begin raise exception 'job insert refused by test'; end $$;
       create trigger refuse_jobs before insert on graphile_worker._private_jobs for each row execute function refuse_jobs();`,
    );
    try {
      const result = await herald.request(PublishEventDocument, {
        input: { type: 'order.created', data: { orderId: 'O-1' }, applicationId },
      });
      expect(result.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
      expect(result.errors?.[0]?.message).not.toContain('refused by test');
      expect(await counts(applicationId)).toEqual({ events: 0, deliveries: 0, jobs: 0 });
    } finally {
      await query(database.url, 'drop trigger refuse_jobs on graphile_worker._private_jobs; drop function refuse_jobs();');
    }
    const ok = await herald.call(PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-2' }, applicationId } });
    expect(ok.publishEvent.deliveries).toHaveLength(3);
    expect(await counts(applicationId)).toMatchObject({ events: 1, deliveries: 3 });
  });
});
