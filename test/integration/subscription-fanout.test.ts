import 'reflect-metadata';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SUBSCRIBER_BUFFER } from '../../src/graphql/pubsub';
import { EventResolver } from '../../src/modules/events/event.resolver';
import {
  CreateApplicationDocument,
  DeliveryUpdatedDocument,
  type DeliveryUpdatedSubscription,
  EventPublishedDocument,
  type EventPublishedSubscription,
  PublishEventsDocument,
  RegisterEndpointDocument,
  ReplayUpdatedDocument,
  type ReplayUpdatedSubscription,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { query } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith();

/**
 * Subscribers with the same operation, variables and tenant scope share one execution per message (see
 * src/graphql/shared-subscriptions.ts). Real graphql-ws clients on real sockets, real PostgreSQL: sharing
 * must not leak one tenant's events to another, and every subscriber must still get every message of its own.
 */
describe('subscription fan-out shared between subscribers', () => {
  let database: { url: string };
  let herald: TestHerald;
  let appA: string;
  let appB: string;
  let keysA: string[];
  let keyB: string;
  let receiver: WebhookReceiver;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    appA = (await herald.call(CreateApplicationDocument, { input: { name: 'Fan-out A' } })).createApplication.id;
    appB = (await herald.call(CreateApplicationDocument, { input: { name: 'Fan-out B' } })).createApplication.id;
    // Two keys of A: different keys with the same scope share; B's key never shares with them.
    keysA = [
      await herald.createKey({ name: 'A one', applicationId: appA }),
      await herald.createKey({ name: 'A two', applicationId: appA }),
    ];
    keyB = await herald.createKey({ name: 'B', applicationId: appB });
    // Every delivery fails once, then succeeds.
    receiver = await WebhookReceiver.start((request) =>
      (JSON.parse(request.body) as { attempt: number }).attempt === 1 ? { status: 500 } : { status: 200 },
    );
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await receiver?.close();
  });

  it("gives every subscriber every message it may see, in publish order, and none of another tenant's, executing once per group", async () => {
    const socket = (key: string) => herald.wsClient({ Authorization: `Bearer ${key}` });
    const record = (client: ReturnType<typeof socket>, variables: Record<string, unknown> = {}) =>
      new SubscriptionRecorder<EventPublishedSubscription>(client, EventPublishedDocument, variables);
    const adminSocket = herald.wsClient();
    const aSockets = [socket(keysA[0]!), socket(keysA[0]!), socket(keysA[1]!), socket(keysA[1]!)];
    const bSockets = [socket(keyB), socket(keyB)];
    const aAll = aSockets.map((client) => record(client));
    const bAll = bSockets.map((client) => record(client));
    // Two operations with the same document on one socket: one group, each with its own operation id.
    const adminAll = [record(adminSocket), record(adminSocket), record(herald.wsClient())];
    const aPaid = record(aSockets[0]!, { type: 'fanout.paid' });
    // Asking for B's events with A's key: the same document and variables as an admin's would share nothing.
    const aAskingForB = record(aSockets[1]!, { applicationId: appB });
    const adminAskingForB = record(adminSocket, { applicationId: appB });
    const all = [...aAll, ...bAll, ...adminAll, aPaid, aAskingForB, adminAskingForB];
    await Promise.all(all.map((recorder) => recorder.ready));
    const executions = vi.spyOn(EventResolver.prototype, 'eventPublished');

    const published: Array<{ id: string; app: string; type: string }> = [];
    for (const [app, batch] of [
      [appA, 0],
      [appB, 1],
      [appA, 2],
    ] as const) {
      const inputs = Array.from({ length: 10 }, (_, n) => ({
        applicationId: app,
        type: n % 2 === 0 ? 'fanout.created' : 'fanout.paid',
        data: { batch, n },
      }));
      const { publishEvents } = await herald.call(PublishEventsDocument, { inputs });
      publishEvents.forEach((event, n) => published.push({ id: event.id, app, type: inputs[n]!.type }));
    }
    const idsOf = (filter: (event: (typeof published)[number]) => boolean) => published.filter(filter).map((event) => event.id);
    const expected = (): Array<[SubscriptionRecorder<EventPublishedSubscription>, string[]]> => [
      ...aAll.map((recorder) => [recorder, idsOf((event) => event.app === appA)] as [typeof recorder, string[]]),
      ...bAll.map((recorder) => [recorder, idsOf((event) => event.app === appB)] as [typeof recorder, string[]]),
      ...adminAll.map((recorder) => [recorder, idsOf(() => true)] as [typeof recorder, string[]]),
      [aPaid, idsOf((event) => event.app === appA && event.type === 'fanout.paid')],
      [adminAskingForB, idsOf((event) => event.app === appB)],
    ];
    for (const [recorder, ids] of expected()) {
      await recorder.waitFor((data) => data.length >= ids.length);
    }
    // Sentinels, one per application and seen by every recorder that may see anything: a late or stray message
    // would reach each recorder before its sentinel does.
    for (const [app, type] of [
      [appA, 'fanout.paid'],
      [appB, 'fanout.created'],
    ] as const) {
      const { publishEvents } = await herald.call(PublishEventsDocument, {
        inputs: [{ applicationId: app, type, data: { sentinel: true } }],
      });
      published.push({ id: publishEvents[0]!.id, app, type });
    }
    const expectations = expected();
    for (const [recorder, ids] of expectations) {
      await recorder.waitFor((data) => data.some((update) => update.eventPublished.id === ids.at(-1)));
    }
    for (const [recorder, ids] of expectations) {
      expect(recorder.results.every((result) => !result.errors)).toBe(true);
      expect(recorder.data.map((update) => update.eventPublished.id)).toEqual(ids);
    }
    for (const recorder of [...aAll, aPaid]) {
      expect(new Set(recorder.data.map((update) => update.eventPublished.applicationId))).toEqual(new Set([appA]));
    }
    expect(aAskingForB.results).toEqual([]);
    // The payload itself arrives intact for each subscriber.
    expect(adminAll[2]!.data[25]!.eventPublished.data).toEqual({ batch: 2, n: 5 });

    // One execution per message and group whose filter let it through, however many subscribers it has:
    // A's events run in A's group, the admins' group and (if paid) A's paid group; B's in B's, the admins'
    // and the admins' "B only" group. Unshared it would be once per subscription and message (for the three batches
    // alone: 20x7 + 10 + 10x6 = 210).
    const perAEvent =
      published.filter((event) => event.app === appA).length * 2 + idsOf((e) => e.app === appA && e.type === 'fanout.paid').length;
    const perBEvent = published.filter((event) => event.app === appB).length * 3;
    expect(executions).toHaveBeenCalledTimes(perAEvent + perBEvent);
  });

  it('ends every member of a group that fell too far behind with SUBSCRIBER_TOO_SLOW, its code included, after what was executed', async () => {
    const recorders = [herald.wsClient(), herald.wsClient()].map(
      (client) => new SubscriptionRecorder<EventPublishedSubscription>(client, EventPublishedDocument, { type: 'fanout.flood' }),
    );
    // A subscription on another topic, whose resolver reads no events: its first message comes after the flood's.
    const sentinel = new SubscriptionRecorder(
      herald.wsClient(),
      ReplayUpdatedDocument as TypedDocumentNode<ReplayUpdatedSubscription, Record<string, unknown>>,
      { id: 'rpl_flood_sentinel' },
    );
    await Promise.all([...recorders, sentinel].map((recorder) => recorder.ready));
    // Loads of events wait behind this lock, so the group's queue fills with notifications.
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table events in access exclusive mode');
      const flood = SUBSCRIBER_BUFFER + 600;
      await query(
        database.url,
        `select pg_notify('herald_changes', json_build_object('kind', 'event', 'eventId', 'evt_flood' || n, 'applicationId', $1::text, 'type', 'fanout.flood')::text)
           from generate_series(1, $2::int) as n`,
        [appA, flood],
      );
      // The change feed queues notifications in the order they come: once the sentinel's is answered, every flood
      // message was queued for the group (which overflowed) while the lock held its executions.
      await query(
        database.url,
        `select pg_notify('herald_changes', json_build_object('kind', 'replay', 'replayId', 'rpl_flood_sentinel', 'applicationId', $1::text, 'status', 'RUNNING')::text)`,
        [appA],
      );
      await vi.waitFor(() => expect(sentinel.results.length).toBeGreaterThan(0), { timeout: 20_000, interval: 20 });
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
    for (const recorder of recorders) {
      // The recorder keeps a refusal as a result without data, so poll rather than wait for data.
      await vi.waitFor(() => expect(recorder.results.at(-1)?.errors?.[0]?.extensions?.code).toBe('SUBSCRIBER_TOO_SLOW'), {
        timeout: 20_000,
        interval: 100,
      });
      const last = recorder.results.at(-1)!;
      expect(last.data).toBeUndefined();
      expect(last.errors).toEqual([
        { message: expect.stringMatching(/fell \d+ messages behind/), extensions: { code: 'SUBSCRIBER_TOO_SLOW' } },
      ]);
      // What was executed before the queue overflowed went out first: messages for events that do not exist.
      const before = recorder.results.slice(0, -1);
      expect(before.length).toBeGreaterThan(0);
      expect(before.every((result) => result.errors?.[0]?.extensions?.code === 'NOT_FOUND')).toBe(true);
    }
  });

  it("streams each delivery's outcomes with their own attempts to every subscriber of a shared group, and none to another tenant", async () => {
    const record = (key: string) =>
      new SubscriptionRecorder<DeliveryUpdatedSubscription>(
        herald.wsClient({ Authorization: `Bearer ${key}` }),
        DeliveryUpdatedDocument,
        {},
      );
    const [first, second, other] = [record(keysA[0]!), record(keysA[1]!), record(keyB)];
    await Promise.all([first, second, other].map((recorder) => recorder.ready));
    await herald.call(RegisterEndpointDocument, { input: { applicationId: appA, url: receiver.url, eventTypes: ['fanout.delivered'] } });
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: Array.from({ length: 6 }, (_, n) => ({ applicationId: appA, type: 'fanout.delivered', data: { n } })),
    });
    const outcome = (update: DeliveryUpdatedSubscription['deliveryUpdated']) =>
      `${update.delivery.eventId} ${update.delivery.status} ${update.attempt?.number ?? '-'} ${update.attempt?.responseStatus ?? '-'}`;
    for (const recorder of [first, second]) {
      await recorder.waitFor((data) => data.filter((update) => update.deliveryUpdated.delivery.status === 'SUCCEEDED').length >= 6);
    }
    // A sentinel delivery after those six: a late or stray update would reach each recorder before its success
    // (other's group takes the same feed, so B's key would have had anything of A's by then too).
    const { publishEvents: sentinels } = await herald.call(PublishEventsDocument, {
      inputs: [{ applicationId: appA, type: 'fanout.delivered', data: { sentinel: true } }],
    });
    for (const recorder of [first, second]) {
      await recorder.waitFor((data) =>
        data.some(
          (update) =>
            update.deliveryUpdated.delivery.eventId === sentinels[0]!.id && update.deliveryUpdated.delivery.status === 'SUCCEEDED',
        ),
      );
    }
    const expected = [...publishEvents, ...sentinels]
      .flatMap((event) => [`${event.id} FAILED 1 500`, `${event.id} SUCCEEDED 2 200`])
      .sort();
    const seen = (recorder: SubscriptionRecorder<DeliveryUpdatedSubscription>) =>
      recorder.data.map((update) => outcome(update.deliveryUpdated)).filter((line) => !line.includes(' PENDING '));
    expect([...seen(first)].sort()).toEqual(expected);
    // The same group: the same messages, in the same order.
    expect(seen(second)).toEqual(seen(first));
    expect(second.data).toEqual(first.data);
    expect(other.results).toEqual([]);
  });
});
