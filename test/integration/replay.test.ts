import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CancelReplayDocument,
  CreateApplicationDocument,
  DeadLettersDocument,
  DisableEndpointDocument,
  EnableEndpointDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  ReplayDeadLettersDocument,
  type ReplayDeadLettersInput,
  ReplayDocument,
  type ReplayFieldsFragment,
  ReplayUpdatedDocument,
  type ReplayUpdatedSubscription,
  ReplaysDocument,
} from '../../src/sdk/generated/graphql';
import { freePort } from '../../src/db/embedded-postgres';
import { heraldTestWith } from '../helpers/fixtures';
import { query, waitForJobsGone } from '../helpers/database';
import { SubscriptionRecorder, type TestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith((databaseUrl) => ({
  config: {
    // Dead letters must not disable the endpoints here: a replay skips a disabled endpoint's.
    delivery: {
      ...testConfig(databaseUrl).delivery,
      retry: { ...testConfig(databaseUrl).delivery.retry, maxAttempts: 1 },
      disableAfterDeadLetters: 0,
    },
    replay: { ratePerSecond: 2 },
  },
}));

/**
 * replayDeadLetters against real receivers: two applications' dead letters of two kinds (HTTP 500 from
 * a receiver, connection refused by a closed port), split in time. Replays run at 2 per second here, so
 * each is slow enough to watch and to cancel.
 */
describe('bulk redrive of dead letters (replayDeadLetters)', { timeout: 90_000 }, () => {
  let database: { url: string };
  let herald: TestHerald;
  let receiverA: WebhookReceiver;
  let receiverB: WebhookReceiver;
  let failing = true;
  let keyA: string;
  let keyB: string;
  const a = { app: '', receiving: '', refused: '' };
  const b = { app: '', endpoint: '' };
  /** Between the first and the second wave of dead letters. */
  let split: Date;
  const createdIds: string[] = [];
  const cancelledIds: string[] = [];

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    const answer = () => (failing ? { status: 500, body: 'down' } : { status: 200, body: 'ok' });
    receiverA = await WebhookReceiver.start(answer);
    receiverB = await WebhookReceiver.start(answer);
    a.app = (await herald.call(CreateApplicationDocument, { input: { name: 'replay A' } })).createApplication.id;
    b.app = (await herald.call(CreateApplicationDocument, { input: { name: 'replay B' } })).createApplication.id;
    const register = async (applicationId: string, url: string) =>
      (await herald.call(RegisterEndpointDocument, { input: { applicationId, url } })).registerEndpoint.endpoint.id;
    a.receiving = await register(a.app, receiverA.url);
    a.refused = await register(a.app, `http://127.0.0.1:${await freePort()}/closed`);
    b.endpoint = await register(b.app, receiverB.url);
    keyA = await herald.createKey({ name: 'A', applicationId: a.app });
    keyB = await herald.createKey({ name: 'B', applicationId: b.app });

    // Wave 1: A gets 3 shop.created and 2 shop.cancelled (each to both endpoints), B 3 shop.created.
    for (const type of ['shop.created', 'shop.created', 'shop.created', 'shop.cancelled', 'shop.cancelled']) {
      await publish(a.app, type);
    }
    for (let i = 0; i < 3; i++) await publish(b.app, 'shop.created');
    await waitForDead(13);
    // The split lies strictly after every wave-1 event and before any wave-2 one is written.
    const [last] = await query<{ at: Date }>(database.url, 'select max(created_at) as at from events');
    split = await waitUntil(
      async () => new Date(),
      (now) => now.getTime() > last!.at.getTime(),
    );
    // Wave 2: 2 more shop.created for A.
    for (let i = 0; i < 2; i++) await publish(a.app, 'shop.created');
    await waitForDead(17);
  });
  afterAll(async () => {
    await receiverA?.close();
    await receiverB?.close();
  });

  async function publish(applicationId: string, type: string): Promise<string> {
    return (await herald.call(PublishEventDocument, { input: { applicationId, type, data: { n: Math.random() } } })).publishEvent.id;
  }
  async function deadCount(): Promise<number> {
    const [row] = await query<{ n: number }>(database.url, `select count(*)::int as n from deliveries where status = 'DEAD'`);
    return row!.n;
  }
  async function waitForDead(count: number): Promise<void> {
    await waitUntil(deadCount, (n) => n >= count);
  }
  async function replay(
    key: string,
    filter: ReplayDeadLettersInput,
    dryRun = false,
  ): Promise<{ replay?: ReplayFieldsFragment; code?: string; message?: string }> {
    const result = await herald.request(ReplayDeadLettersDocument, { filter, dryRun }, { authorization: `Bearer ${key}` });
    if (result.errors?.length) return { code: result.errors[0]!.extensions?.code as string, message: result.errors[0]!.message };
    return { replay: result.data!.replayDeadLetters };
  }
  async function matched(key: string, filter: ReplayDeadLettersInput): Promise<number> {
    const { replay: dry, code, message } = await replay(key, filter, true);
    if (!dry) throw new Error(`dry run refused: ${code} ${message}`);
    expect(dry.status).toBe('DRY_RUN');
    expect(dry.id).toBeNull();
    return dry.matched;
  }
  async function waitForStatus(key: string, id: string, done: (replay: ReplayFieldsFragment) => boolean) {
    return waitUntil(async () => (await herald.callAs(key, ReplayDocument, { id })).replay, done, 20_000, 100);
  }

  it('a dry run counts the matches of each filter dimension and changes nothing', async () => {
    const admin = herald.adminKey;
    expect(await matched(admin, {})).toBe(17);
    expect(await matched(admin, { applicationId: a.app })).toBe(14);
    expect(await matched(admin, { applicationId: b.app })).toBe(3);
    expect(await matched(admin, { endpointId: a.receiving })).toBe(7);
    expect(await matched(admin, { eventType: 'shop.cancelled' })).toBe(4);
    expect(await matched(admin, { errorKind: 'CONNECT' })).toBe(7);
    expect(await matched(admin, { errorKind: 'HTTP_STATUS' })).toBe(10);
    expect(await matched(admin, { applicationId: a.app, to: split.toISOString() })).toBe(10);
    expect(await matched(admin, { applicationId: a.app, from: split.toISOString() })).toBe(4);
    expect(await matched(admin, { endpointId: a.receiving, eventType: 'shop.created', from: split.toISOString() })).toBe(2);
    // An application key counts only its own application's dead letters.
    expect(await matched(keyA, {})).toBe(14);
    expect(await matched(keyB, { eventType: 'shop.created' })).toBe(3);
    // Nothing changed: every dead letter is still dead, no replay was recorded, no replay job exists.
    expect(await deadCount()).toBe(17);
    expect((await herald.call(ReplaysDocument, {})).replays.nodes).toEqual([]);
    expect(await query(database.url, `select 1 from graphile_worker.jobs where task_identifier = 'replay'`)).toEqual([]);
  });

  it('refuses a bad filter with a code that says what to fix', async () => {
    const backwards = await replay(herald.adminKey, { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' });
    expect(backwards).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/"from".*earlier than "to"/) });
    expect(await replay(herald.adminKey, { endpointId: 'ep_doesnotexist' }, true)).toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/endpoint.*ep_doesnotexist/),
    });
    expect(await replay(herald.adminKey, { applicationId: 'app_doesnotexist' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await replay(herald.adminKey, { applicationId: a.app, endpointId: b.endpoint })).toMatchObject({ code: 'BAD_USER_INPUT' });
    const wrongEnum = await herald.request(ReplayDeadLettersDocument, { filter: { errorKind: 'NOPE' as never } });
    expect(wrongEnum.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // A disabled endpoint's dead letters would only die again: enable it first (like retryDelivery).
    await herald.call(DisableEndpointDocument, { id: b.endpoint });
    expect(await replay(herald.adminKey, { endpointId: b.endpoint })).toMatchObject({ code: 'ENDPOINT_DISABLED' });
    await herald.call(EnableEndpointDocument, { id: b.endpoint });
    expect((await herald.call(ReplaysDocument, {})).replays.nodes).toEqual([]);
  });

  it("an application key cannot replay, see or follow another application's dead letters and replays", async () => {
    expect(await replay(keyA, { applicationId: b.app })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await replay(keyA, { endpointId: b.endpoint })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await replay(keyA, { endpointId: b.endpoint }, true)).toMatchObject({ code: 'NOT_FOUND' });
    // B's replay, cancelled at once: A can neither read, list nor cancel it.
    const started = await replay(keyB, {});
    expect(started.replay).toMatchObject({ status: 'RUNNING', matched: 3, filter: { applicationId: b.app } });
    const id = started.replay!.id!;
    createdIds.push(id);
    const asA = await herald.request(ReplayDocument, { id }, { authorization: `Bearer ${keyA}` });
    expect(asA.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await herald.callAs(keyA, ReplaysDocument, {})).replays.nodes).toEqual([]);
    const cancelAsA = await herald.request(CancelReplayDocument, { id }, { authorization: `Bearer ${keyA}` });
    expect(cancelAsA.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const cancelled = (await herald.callAs(keyB, CancelReplayDocument, { id })).cancelReplay;
    cancelledIds.push(id);
    expect(cancelled.status).toBe('CANCELLED');
    expect(cancelled.finishedAt).not.toBeNull();
    // Cancelled stays cancelled: no further batch runs. Once the replay's job is gone, none can.
    await waitForJobsGone(database.url, [`replay:${id}`]);
    const later = (await herald.callAs(keyB, ReplayDocument, { id })).replay;
    expect(later).toMatchObject({ status: 'CANCELLED', requeued: cancelled.requeued });
    expect(later.requeued).toBeLessThan(3);
    const again = await herald.request(CancelReplayDocument, { id }, { authorization: `Bearer ${keyB}` });
    expect(again.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' }, message: expect.stringMatching(/CANCELLED/) });
    expect((await herald.callAs(keyB, ReplaysDocument, {})).replays.nodes.map((node) => node.id)).toEqual([id]);
  });

  it('re-delivers exactly the matched dead letters, paced, with progress to COMPLETED on replay(id) and replayUpdated', async () => {
    failing = false;
    const before = receiverA.requests.length;
    const expected = await query<{ event_id: string }>(
      database.url,
      `select event_id from deliveries where endpoint_id = $1 and event_type = 'shop.created' and status = 'DEAD'`,
      [a.receiving],
    );
    expect(expected).toHaveLength(5);
    const started = (
      await herald.callAs(keyA, ReplayDeadLettersDocument, { filter: { endpointId: a.receiving, eventType: 'shop.created' } })
    ).replayDeadLetters;
    expect(started).toMatchObject({
      status: 'RUNNING',
      matched: 5,
      filter: { applicationId: a.app, endpointId: a.receiving, eventType: 'shop.created', from: null, to: null, errorKind: null },
    });
    const id = started.id!;
    createdIds.push(id);
    const owner = new SubscriptionRecorder(herald.wsClient({ Authorization: `Bearer ${keyA}` }), ReplayUpdatedDocument as SubscriptionDoc, {
      id,
    });
    const stranger = new SubscriptionRecorder(
      herald.wsClient({ Authorization: `Bearer ${keyB}` }),
      ReplayUpdatedDocument as SubscriptionDoc,
      {
        id,
      },
    );
    await Promise.all([owner.ready, stranger.ready]);

    const updates = await owner.waitFor((data) => data.some((update) => update.replayUpdated.status === 'COMPLETED'), 20_000);
    const done = updates.find((update) => update.replayUpdated.status === 'COMPLETED')!.replayUpdated;
    expect(done).toMatchObject({ id, matched: 5, requeued: 5 });
    expect(done.finishedAt).not.toBeNull();
    // Progress only grows.
    const progress = updates.map((update) => update.replayUpdated.requeued);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect((await herald.callAs(keyA, ReplayDocument, { id })).replay).toMatchObject({ status: 'COMPLETED', requeued: 5 });

    await receiverA.waitForRequests(before + 5);
    // Each re-delivered one has recorded its outcome (SUCCEEDED is final: no attempt follows).
    await waitUntil(
      () =>
        query<{ status: string }>(database.url, `select status from deliveries where endpoint_id = $1 and event_id = any($2)`, [
          a.receiving,
          expected.map((row) => row.event_id),
        ]),
      (rows) => rows.length === 5 && rows.every((row) => row.status === 'SUCCEEDED'),
    );
    const replayed = receiverA.requests.slice(before);
    expect(replayed.map((request) => JSON.parse(request.body).id as string).sort()).toEqual(expected.map((row) => row.event_id).sort());
    // 2 per second: three batches (2, 2, 1), the last one at least 2 s after the first. Judged on when Herald
    // started each re-delivery (the last attempt of each, the ones before it having made the dead letter).
    const times = (
      await query<{ at: number }>(
        database.url,
        `select (extract(epoch from max(a.attempted_at)) * 1000)::float8 as at
           from delivery_attempts a join deliveries d on d.id = a.delivery_id
          where d.endpoint_id = $1 and d.event_id = any($2) group by d.id`,
        [a.receiving, expected.map((row) => row.event_id)],
      )
    ).map((row) => row.at);
    expect(times).toHaveLength(5);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(1500);

    // Only those: A's cancelled orders and its refused endpoint, and B's, are still dead.
    const stillDead = (await herald.callAs(keyA, DeadLettersDocument, { page: { first: 100 } })).deadLetters.nodes;
    expect(stillDead.filter((node) => node.endpointId === a.receiving).map((node) => node.eventType)).toEqual([
      'shop.cancelled',
      'shop.cancelled',
    ]);
    expect(stillDead.filter((node) => node.endpointId === a.refused)).toHaveLength(7);
    expect(stranger.results).toEqual([]);
  });

  it('freezes the set at the start: dead letters that die again, or die during the replay, are not replayed', async () => {
    const started = (await herald.call(ReplayDeadLettersDocument, { filter: { endpointId: a.refused } })).replayDeadLetters;
    expect(started.matched).toBe(7);
    createdIds.push(started.id!);
    // A delivery that dies while the replay runs (its id sorts after every matched one).
    const late = await publish(a.app, 'shop.late');
    await waitUntil(
      () =>
        query<{ status: string }>(database.url, `select status from deliveries where event_id = $1 and endpoint_id = $2`, [
          late,
          a.refused,
        ]),
      (rows) => rows[0]?.status === 'DEAD',
    );
    const done = await waitForStatus(herald.adminKey, started.id!, (replay) => replay.status !== 'RUNNING');
    expect(done).toMatchObject({ status: 'COMPLETED', matched: 7, requeued: 7 });
    // Requeued ones run again: wait until every one has died again (DEAD is final: no attempt follows).
    const attempts = await waitUntil(
      () =>
        query<{ event_type: string; attempt_count: number; status: string }>(
          database.url,
          `select event_type, attempt_count, status from deliveries where endpoint_id = $1 order by id`,
          [a.refused],
        ),
      (rows) => rows.every((row) => row.status === 'DEAD'),
    );
    // Each matched one was attempted exactly once more (and died again); the late one only once.
    expect(attempts.filter((row) => row.event_type !== 'shop.late').map((row) => row.attempt_count)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(attempts.find((row) => row.event_type === 'shop.late')?.attempt_count).toBe(1);
    expect(attempts.every((row) => row.status === 'DEAD')).toBe(true);
  });

  it('lists replays newest first: an admin sees all, an application key its own', async () => {
    const all = (await herald.call(ReplaysDocument, { page: { first: 100 } })).replays.nodes.map((node) => node.id);
    expect(all).toEqual([...createdIds].reverse());
    const ofA = (await herald.callAs(keyA, ReplaysDocument, {})).replays.nodes.map((node) => node.id);
    // A's endpoint replay, and the admin's replay of A's refused endpoint (it belongs to A's application).
    expect(ofA).toEqual([createdIds[2], createdIds[1]]);
    expect(cancelledIds).toEqual([createdIds[0]]);
  });

  it('a replay with nothing to do completes at once', async () => {
    const started = (await herald.call(ReplayDeadLettersDocument, { filter: { eventType: 'no.such.type' } })).replayDeadLetters;
    expect(started).toMatchObject({ status: 'COMPLETED', matched: 0, requeued: 0 });
    expect(started.finishedAt).not.toBeNull();
  });
});

type SubscriptionDoc = TypedDocumentNode<ReplayUpdatedSubscription, Record<string, unknown>>;
