import type { GraphQLFormattedError } from 'graphql';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, HeraldError } from '../../src/lib/errors';
import { ALL_APPLICATIONS } from '../../src/modules/api-keys/principal';
import { EventService, EventWriter, type PublishEvent } from '../../src/modules/events/event.service';
import {
  CreateApplicationDocument,
  PublishEventDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { query } from '../helpers/database';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

/**
 * An idempotency key names one event, across calls too: the same key with the same event returns the first one,
 * with anything different it is refused (IDEMPOTENCY_KEY_REUSED) and nothing of the call is written.
 */
describe('idempotency keys reused for a different event are refused across calls', () => {
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

  async function application(options: { ordered?: boolean } = {}): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'idempotency reuse' } });
    await herald.call(RegisterEndpointDocument, {
      input: { url: receiver.url, applicationId: createApplication.id, ordered: options.ordered ?? false },
    });
    return createApplication.id;
  }

  async function counts(applicationId: string) {
    const [row] = await query<{ events: string; deliveries: string }>(
      database.url,
      `select (select count(*) from events where application_id = $1) as events,
              (select count(*) from deliveries where application_id = $1) as deliveries`,
      [applicationId],
    );
    return { events: Number(row!.events), deliveries: Number(row!.deliveries) };
  }

  function onlyError(errors: readonly GraphQLFormattedError[] | undefined): GraphQLFormattedError {
    expect(errors, JSON.stringify(errors)).toHaveLength(1);
    expect(errors![0]!.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    return errors![0]!;
  }

  it('publishEvent: the same event returns the first one; a different type, version, data or orderingKey is refused', async () => {
    const applicationId = await application();
    const input = { type: 'order.created', data: { orderId: 'R-1' }, applicationId, idempotencyKey: 'reuse-1' };
    const first = await herald.call(PublishEventDocument, { input });
    const again = await herald.call(PublishEventDocument, { input });
    expect(again.publishEvent.id).toBe(first.publishEvent.id);
    // The same stored text through dataJson is the same event.
    const asText = await herald.call(PublishEventDocument, {
      input: { type: 'order.created', dataJson: '{"orderId":"R-1"}', applicationId, idempotencyKey: 'reuse-1' },
    });
    expect(asText.publishEvent.id).toBe(first.publishEvent.id);

    const changes: Array<[Record<string, unknown>, string[]]> = [
      [{ data: { orderId: 'R-2' } }, ['data']],
      [{ data: undefined, dataJson: '{"orderId": "R-1"}' }, ['data']],
      [{ type: 'order.updated' }, ['type']],
      [{ version: '2.0', type: 'custom.thing' }, ['type', 'version']],
      [{ orderingKey: 'customer-1' }, ['orderingKey']],
    ];
    for (const [change, differs] of changes) {
      const result = await herald.request(PublishEventDocument, { input: { ...input, ...change } as never });
      const error = onlyError(result.errors);
      expect(error.message).toContain(
        `idempotencyKey "reuse-1" already names event ${first.publishEvent.id}, which has a different ${differs.join(', ')}`,
      );
      expect(error.extensions).toMatchObject({
        field: 'idempotencyKey',
        eventId: first.publishEvent.id,
        differs,
        idempotencyKey: 'reuse-1',
      });
    }
    expect(await counts(applicationId)).toEqual({ events: 1, deliveries: 1 });
  });

  it('publishEvents: a key that names an earlier, different event refuses the whole batch, naming the input', async () => {
    const applicationId = await application();
    const earlier = await herald.call(PublishEventDocument, {
      input: { type: 'order.created', data: { orderId: 'B-0' }, applicationId, idempotencyKey: 'batch-earlier' },
    });
    const result = await herald.request(PublishEventsDocument, {
      inputs: [
        { type: 'order.created', data: { orderId: 'B-1' }, applicationId, idempotencyKey: 'batch-fresh' },
        { type: 'order.created', data: { orderId: 'B-2' }, applicationId },
        { type: 'order.created', data: { orderId: 'B-changed' }, applicationId, idempotencyKey: 'batch-earlier' },
      ],
    });
    const error = onlyError(result.errors);
    expect(error.message).toMatch(/^inputs\[2\]: idempotencyKey "batch-earlier" already names event evt_\w+, which has a different data;/);
    expect(error.extensions).toMatchObject({ index: 2, eventId: earlier.publishEvent.id, differs: ['data'] });
    // Nothing of the batch: only the earlier event and its delivery.
    expect(await counts(applicationId)).toEqual({ events: 1, deliveries: 1 });

    // An exact repeat in a batch is the earlier event; the rest is written.
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [
        { type: 'order.created', data: { orderId: 'B-1' }, applicationId, idempotencyKey: 'batch-fresh' },
        { type: 'order.created', data: { orderId: 'B-0' }, applicationId, idempotencyKey: 'batch-earlier' },
      ],
    });
    expect(publishEvents[1]!.id).toBe(earlier.publishEvent.id);
    expect(await counts(applicationId)).toEqual({ events: 2, deliveries: 2 });
  });

  it('publishEvents to an ordered endpoint (the transaction path) is rolled back whole as well', async () => {
    const applicationId = await application({ ordered: true });
    await herald.call(PublishEventDocument, {
      input: { type: 'order.created', data: { orderId: 'F-0' }, applicationId, idempotencyKey: 'fifo-k' },
    });
    const result = await herald.request(PublishEventsDocument, {
      inputs: [
        { type: 'order.created', data: { orderId: 'F-1' }, applicationId },
        { type: 'order.created', data: { orderId: 'F-other' }, applicationId, idempotencyKey: 'fifo-k' },
      ],
    });
    expect(onlyError(result.errors).message).toMatch(/^inputs\[1\]: /);
    expect(await counts(applicationId)).toEqual({ events: 1, deliveries: 1 });
  });

  it('publishEvents racing a concurrent publish of the key: the refusal found after the write rolls the batch back', async () => {
    const applicationId = await application();
    // Another transaction takes the key first and has not committed: the batch's insert waits on it.
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      await other.query('begin');
      await other.query(
        `insert into events (id, application_id, type, version, payload, idempotency_key, ordering_key, created_at)
         values ('evt_race0000000000000000000', $1, 'order.created', '1.0', '{"orderId":"winner"}', 'race-k', null, now())`,
        [applicationId],
      );
      const pending = herald.request(PublishEventsDocument, {
        inputs: [
          { type: 'order.created', data: { orderId: 'bystander' }, applicationId },
          { type: 'order.created', data: { orderId: 'loser' }, applicationId, idempotencyKey: 'race-k' },
        ],
      });
      // Wait until the batch is blocked on the key's index entry, then let the winner commit.
      await waitUntil(
        async () => {
          const [row] = await query<{ n: string }>(
            database.url,
            `select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
          );
          return Number(row!.n);
        },
        (waiting) => waiting > 0,
        10_000,
        20,
      );
      await other.query('commit');
      const error = onlyError((await pending).errors);
      expect(error.message).toMatch(/^inputs\[1\]: idempotencyKey "race-k" already names event evt_race0000000000000000000/);
    } finally {
      await other.end();
    }
    // The winner alone: the bystander's event and delivery were rolled back with the batch.
    expect(await counts(applicationId)).toEqual({ events: 1, deliveries: 0 });
  });

  for (const ordered of [false, true]) {
    it(`the coalescing EventWriter refuses only the call that reuses a key, not its neighbours${ordered ? ' (ordered endpoint)' : ''}`, async () => {
      const applicationId = await application({ ordered });
      const orm = herald.handle.database.orm;
      const writer = new EventWriter(() => orm.em.fork(), herald.config);
      const service = new EventService(orm.em.fork(), herald.config, ALL_APPLICATIONS, writer);
      const earlier = await service.publish({
        type: 'order.created',
        data: { orderId: 'W-0' },
        applicationId,
        idempotencyKey: 'writer-earlier',
      });

      const event = (orderId: string, idempotencyKey?: string): PublishEvent => ({
        type: 'order.created',
        data: { orderId },
        applicationId,
        idempotencyKey: idempotencyKey ?? null,
      });
      // Submitted in one turn of the event loop: one batch.
      const outcomes = await Promise.allSettled([
        service.publish(event('W-changed', 'writer-earlier')),
        service.publish(event('W-1', 'writer-1')),
        service.publish(event('W-2')),
        service.publish(event('W-3', 'writer-3')),
        service.publish(event('W-3-changed', 'writer-3')),
        service.publish(event('W-0', 'writer-earlier')),
      ]);
      const [reused, fresh, keyless, first, neighbourReused, repeat] = outcomes;
      for (const refused of [reused, neighbourReused]) {
        expect(refused!.status).toBe('rejected');
        const reason = (refused as PromiseRejectedResult).reason as HeraldError;
        expect(reason).toBeInstanceOf(HeraldError);
        expect(reason.code).toBe(ErrorCode.IDEMPOTENCY_KEY_REUSED);
        expect(reason.details).toMatchObject({ differs: ['data'] });
      }
      expect(((reused as PromiseRejectedResult).reason as HeraldError).details.eventId).toBe(earlier.event.id);
      for (const written of [fresh, keyless, first]) {
        expect(written!.status, JSON.stringify(written)).toBe('fulfilled');
        const result = (written as PromiseFulfilledResult<Awaited<ReturnType<EventService['publish']>>>).value;
        expect(result.deduplicated).toBe(false);
        expect(result.deliveryIds).toHaveLength(1);
      }
      const repeated = (repeat as PromiseFulfilledResult<Awaited<ReturnType<EventService['publish']>>>).value;
      expect(repeated).toMatchObject({ deduplicated: true, event: { id: earlier.event.id } });
      expect(((neighbourReused as PromiseRejectedResult).reason as HeraldError).details.eventId).toBe(
        (first as PromiseFulfilledResult<Awaited<ReturnType<EventService['publish']>>>).value.event.id,
      );
      // The earlier event and the three new ones, one delivery each.
      expect(await counts(applicationId)).toEqual({ events: 4, deliveries: 4 });
    });
  }
});
