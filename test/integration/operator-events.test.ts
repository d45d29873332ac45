import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileSchema } from '../../src/modules/catalog/schema-validator';
import { OperatorEventType, publishOperatorEvents } from '../../src/queue/operator-events';
import {
  AuditLogDocument,
  CreateApplicationDocument,
  DisableEndpointDocument,
  EnableEndpointDocument,
  EventTypesDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  ReplayDeadLettersDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { type WebhookReceiver, receiversOfSuite } from '../helpers/receiver';

const OPERATOR_APPLICATION = 'app_default';

interface Envelope {
  id: string;
  event: string;
  version: string;
  data: Record<string, unknown>;
}

/**
 * Operator events end to end: real receivers on 127.0.0.1, the real worker. One attempt per delivery (a failure is a
 * dead letter at once) and 2 dead letters in a row disable; the default application is the operator application.
 */
describe('operator events (herald.*)', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  const receiver = receiversOfSuite();
  let operator: { receiver: WebhookReceiver; secret: string };
  const schemas = new Map<string, Record<string, unknown>>();

  beforeAll(async () => {
    database = await createTestDatabase();
    const base = testConfig(database.url).delivery;
    herald = await startTestHerald(database.url, {
      config: {
        delivery: { ...base, disableAfterDeadLetters: 2, retry: { ...base.retry, maxAttempts: 1 } },
        operatorEvents: { applicationId: OPERATOR_APPLICATION, suppressionMs: 60_000 },
      },
    });
    const operatorReceiver = await receiver();
    operator = { receiver: operatorReceiver, secret: (await endpoint(OPERATOR_APPLICATION, operatorReceiver.url, ['herald.*'])).secret };
    const { eventTypes } = await herald.call(EventTypesDocument, {});
    for (const type of eventTypes) if (type.latestVersion.schema) schemas.set(type.name, type.latestVersion.schema as never);
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });
  afterEach(async () => {
    // Every test's deliveries are finished before the next test starts: what a receiver got is final.
    await settled();
  });

  async function application(): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'operator events' } });
    return createApplication.id;
  }
  async function endpoint(applicationId: string, url: string, eventTypes?: string[]) {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { applicationId, url, eventTypes } });
    return { id: registerEndpoint.endpoint.id, secret: registerEndpoint.secret };
  }
  async function publish(applicationId: string) {
    const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type: 'orders.created', data: {} } });
    return publishEvent;
  }
  const deliveryStatus = async (id: string) =>
    (await query<{ status: string }>(database.url, 'select status from deliveries where id = $1', [id]))[0]?.status;
  const finished = (id: string) =>
    waitUntil(
      () => deliveryStatus(id),
      (status) => status === 'SUCCEEDED' || status === 'DEAD',
    );
  /** Nothing left to deliver: every operator event published so far has reached its receivers. */
  const settled = () =>
    waitUntil(
      () => query<{ n: number }>(database.url, `select count(*)::int as n from deliveries where status in ('PENDING', 'FAILED')`),
      ([row]) => row!.n === 0,
    );
  const enabled = async (id: string) =>
    (await query<{ enabled: boolean }>(database.url, 'select enabled from endpoints where id = $1', [id]))[0]!.enabled;

  /** The operator events a receiver got about one endpoint (or replay), each checked against its catalog schema. */
  function received(target: WebhookReceiver, about: string): Envelope[] {
    return target.requests
      .map((request) => JSON.parse(request.body) as Envelope)
      .filter(
        (envelope) => envelope.event.startsWith('herald.') && (envelope.data.endpointId === about || envelope.data.replayId === about),
      )
      .map((envelope) => {
        const schema = schemas.get(envelope.event);
        expect(schema, `${envelope.event} is in the catalog`).toBeDefined();
        const validate = compileSchema(schema!);
        expect(validate(envelope.data), JSON.stringify(validate.errors)).toBe(true);
        return envelope;
      });
  }
  const ofType = (envelopes: Envelope[], type: string) => envelopes.filter((envelope) => envelope.event === type);
  function verified(target: WebhookReceiver, secret: string, eventId: string) {
    const request = target.requests.find((candidate) => (JSON.parse(candidate.body) as Envelope).id === eventId)!;
    return new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
  }

  it('the catalog lists the operator types with schemas their examples satisfy', async () => {
    const { eventTypes } = await herald.call(EventTypesDocument, {});
    for (const type of Object.values(OperatorEventType)) {
      const entry = eventTypes.find((candidate) => candidate.name === type);
      expect(entry, type).toBeDefined();
      expect(entry!.latestVersion.version).toBe('1.0');
      expect(compileSchema(entry!.latestVersion.schema as never)(entry!.latestVersion.example)).toBe(true);
    }
  });

  it('a 410 disables the endpoint: exactly one signed herald.endpoint.disabled reaches a herald.* subscriber and the operator application, none another application', async () => {
    const applicationId = await application();
    const otherApplicationId = await application();
    const gone = await receiver(() => ({ status: 410 }));
    const subscriber = await receiver();
    const outsider = await receiver();
    const { secret } = await endpoint(applicationId, subscriber.url, ['herald.*']);
    await endpoint(otherApplicationId, outsider.url, ['herald.*']);
    const goneEndpoint = await endpoint(applicationId, gone.url, ['orders.*']);

    const event = await publish(applicationId);
    await finished(event.deliveries[0]!.id);
    expect(await enabled(goneEndpoint.id)).toBe(false);
    // Herald's own change is in the audit log, by the system actor, with the reason.
    const { auditLog } = await herald.call(AuditLogDocument, { filter: { targetId: goneEndpoint.id, action: 'endpoint.disabled' } });
    expect(auditLog.nodes).toHaveLength(1);
    expect(auditLog.nodes[0]).toMatchObject({
      actor: { id: 'system', kind: 'SYSTEM' },
      applicationId,
      before: { enabled: true },
      after: { enabled: false, cause: 'GONE' },
    });
    expect(auditLog.nodes[0]!.after!.disabledReason).toMatch(/410 Gone/);
    await settled();

    const got = received(subscriber, goneEndpoint.id);
    const disabled = ofType(got, OperatorEventType.endpointDisabled);
    expect(disabled).toHaveLength(1);
    expect(disabled[0]!.data).toMatchObject({ endpointId: goneEndpoint.id, applicationId, cause: 'GONE', consecutiveFailures: 1 });
    expect(disabled[0]!.data.reason).toMatch(/410 Gone/);
    expect(verified(subscriber, secret, disabled[0]!.id)).toMatchObject({ event: OperatorEventType.endpointDisabled });
    // The transitions that led there, once each; the payloads name no URL.
    expect(got.map((envelope) => envelope.event).sort()).toEqual(
      [OperatorEventType.deliveryDeadLettered, OperatorEventType.endpointDisabled, OperatorEventType.endpointFailing].sort(),
    );
    expect(ofType(got, OperatorEventType.deliveryDeadLettered)[0]!.data).toMatchObject({
      deliveryId: event.deliveries[0]!.id,
      eventId: event.id,
      eventType: 'orders.created',
      attempts: 1,
      lastStatusCode: 410,
    });
    for (const request of subscriber.requests) expect(request.body).not.toContain('127.0.0.1');

    const operatorDisabled = ofType(received(operator.receiver, goneEndpoint.id), OperatorEventType.endpointDisabled);
    expect(operatorDisabled).toHaveLength(1);
    expect(verified(operator.receiver, operator.secret, operatorDisabled[0]!.id)).toMatchObject({ data: { cause: 'GONE' } });
    expect(outsider.requests).toHaveLength(0);
  });

  it('N dead letters in a row disable the endpoint: exactly one signed herald.endpoint.disabled to a herald.endpoint.* subscriber', async () => {
    const applicationId = await application();
    const failing = await receiver(() => ({ status: 500 }));
    const subscriber = await receiver();
    const { secret } = await endpoint(applicationId, subscriber.url, ['herald.endpoint.*']);
    const failingEndpoint = await endpoint(applicationId, failing.url, ['orders.*']);

    const first = await publish(applicationId);
    await finished(first.deliveries[0]!.id);
    expect(await enabled(failingEndpoint.id)).toBe(true);
    const second = await publish(applicationId);
    await finished(second.deliveries[0]!.id);
    expect(await enabled(failingEndpoint.id)).toBe(false);
    await settled();

    const got = received(subscriber, failingEndpoint.id);
    const disabled = ofType(got, OperatorEventType.endpointDisabled);
    expect(disabled).toHaveLength(1);
    expect(disabled[0]!.data).toMatchObject({ cause: 'DEAD_LETTERS', consecutiveDeadLetters: 2, consecutiveFailures: 2 });
    expect(verified(subscriber, secret, disabled[0]!.id)).toMatchObject({ event: OperatorEventType.endpointDisabled });
    // Its filter takes endpoint events only: one failing (the first failure), no dead letters.
    expect(got.map((envelope) => envelope.event).sort()).toEqual(
      [OperatorEventType.endpointDisabled, OperatorEventType.endpointFailing].sort(),
    );
    expect(ofType(received(operator.receiver, failingEndpoint.id), OperatorEventType.endpointDisabled)).toHaveLength(1);
  });

  it('an endpoint flapping within the suppression window sends one event per transition type; the rest are counted', async () => {
    const applicationId = await application();
    let failing = true;
    const flaky = await receiver(() => ({ status: failing ? 503 : 200 }));
    const subscriber = await receiver();
    await endpoint(applicationId, subscriber.url, ['herald.*']);
    const flakyEndpoint = await endpoint(applicationId, flaky.url, ['orders.*']);

    for (const fail of [true, false, true, false]) {
      failing = fail;
      const event = await publish(applicationId);
      await finished(event.deliveries[0]!.id);
    }
    for (let round = 0; round < 2; round++) {
      await herald.call(DisableEndpointDocument, { id: flakyEndpoint.id, reason: 'maintenance' });
      await herald.call(EnableEndpointDocument, { id: flakyEndpoint.id });
    }
    await settled();

    const got = received(subscriber, flakyEndpoint.id);
    for (const type of [
      OperatorEventType.endpointFailing,
      OperatorEventType.endpointRecovered,
      OperatorEventType.deliveryDeadLettered,
      OperatorEventType.endpointDisabled,
      OperatorEventType.endpointEnabled,
    ]) {
      expect(ofType(got, type), type).toHaveLength(1);
    }
    expect(got).toHaveLength(5);
    expect(ofType(got, OperatorEventType.endpointDisabled)[0]!.data).toMatchObject({ cause: 'MANUAL', reason: 'maintenance' });
    expect(ofType(got, OperatorEventType.endpointRecovered)[0]!.data).toMatchObject({ failedAttempts: 1, suppressedSinceLastEvent: 0 });
    const state = await query<{ type: string; suppressed: number }>(
      database.url,
      'select type, suppressed from operator_event_state where endpoint_id = $1 order by type',
      [flakyEndpoint.id],
    );
    expect(Object.fromEntries(state.map((row) => [row.type, row.suppressed]))).toEqual({
      [OperatorEventType.deliveryDeadLettered]: 1,
      [OperatorEventType.endpointDisabled]: 1,
      [OperatorEventType.endpointEnabled]: 1,
      [OperatorEventType.endpointFailing]: 1,
      [OperatorEventType.endpointRecovered]: 1,
    });
  });

  it('an application whose endpoints have no filters never opted in: its endpoints get no operator events', async () => {
    const applicationId = await application();
    const catchAll = await receiver();
    const gone = await receiver(() => ({ status: 410 }));
    await endpoint(applicationId, catchAll.url);
    const goneEndpoint = await endpoint(applicationId, gone.url, ['orders.*']);
    const event = await publish(applicationId);
    await finished(event.deliveries.find((delivery) => delivery.endpointId === goneEndpoint.id)!.id);
    expect(await enabled(goneEndpoint.id)).toBe(false);
    await settled();
    expect(catchAll.requests.map((request) => (JSON.parse(request.body) as Envelope).event)).toEqual(['orders.created']);
    // The operator application still hears of it.
    expect(ofType(received(operator.receiver, goneEndpoint.id), OperatorEventType.endpointDisabled)).toHaveLength(1);
  });

  it('after the window the next event is sent with the count of those suppressed; 0 sends every one', async () => {
    const applicationId = await application();
    const subscriber = await receiver();
    await endpoint(applicationId, subscriber.url, ['herald.endpoint.failing']);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const at = (seconds: number) => new Date(Date.UTC(2026, 11, 7, 10, 0, seconds));
      const failingEvent = (endpointId: string) => ({
        type: OperatorEventType.endpointFailing,
        applicationId,
        endpointId,
        data: { endpointId, applicationId, occurredAt: at(0).toISOString(), lastStatusCode: 500, lastErrorKind: 'HTTP_STATUS' },
      });
      const config = { applicationId: null, suppressionMs: 60_000 };
      const published = [] as number[];
      // Two in one call count the second; a third 10 s later is counted; 70 s after the first, one is sent again.
      published.push(await publishOperatorEvents(client, [failingEvent('ep_window'), failingEvent('ep_window')], config, at(0)));
      published.push(await publishOperatorEvents(client, [failingEvent('ep_window')], config, at(10)));
      published.push(await publishOperatorEvents(client, [failingEvent('ep_window')], config, at(70)));
      published.push(await publishOperatorEvents(client, [failingEvent('ep_none')], { ...config, suppressionMs: 0 }, at(0)));
      published.push(await publishOperatorEvents(client, [failingEvent('ep_none')], { ...config, suppressionMs: 0 }, at(0)));
      expect(published).toEqual([1, 0, 1, 1, 1]);
      const rows = await query<{ payload: string }>(
        database.url,
        `select payload from events where application_id = $1 and payload::json ->> 'endpointId' = 'ep_window' order by id`,
        [applicationId],
      );
      expect(rows.map((row) => (JSON.parse(row.payload) as { suppressedSinceLastEvent: number }).suppressedSinceLastEvent)).toEqual([0, 2]);
      // Nobody in the application subscribed to this type: nothing is published or recorded.
      const ignored = { ...failingEvent('ep_ignored'), type: OperatorEventType.endpointRecovered };
      expect(await publishOperatorEvents(client, [ignored], config, at(0))).toBe(0);
      expect(await query(database.url, `select 1 from operator_event_state where endpoint_id = 'ep_ignored'`)).toHaveLength(0);
    } finally {
      await client.end();
    }
    await waitUntil(
      async () => subscriber.requests.length,
      (count) => count >= 4,
    );
  });

  it('a completed replay sends herald.replay.completed with its counts to its application and the operator application', async () => {
    const applicationId = await application();
    let failing = true;
    const target = await receiver(() => ({ status: failing ? 500 : 200 }));
    const subscriber = await receiver();
    const { secret } = await endpoint(applicationId, subscriber.url, ['herald.replay.*']);
    await endpoint(applicationId, target.url, ['orders.*']);
    const event = await publish(applicationId);
    await finished(event.deliveries[0]!.id);
    failing = false;
    const { replayDeadLetters } = await herald.call(ReplayDeadLettersDocument, { filter: { applicationId } });
    const replayId = replayDeadLetters.id!;
    await waitUntil(
      async () => received(subscriber, replayId).length,
      (count) => count > 0,
    );
    await settled();
    const [completed, ...more] = received(subscriber, replayId);
    expect(more).toHaveLength(0);
    expect(completed!.event).toBe(OperatorEventType.replayCompleted);
    expect(completed!.data).toMatchObject({ replayId: replayId, applicationId, matched: 1, requeued: 1, endpointId: null });
    expect(verified(subscriber, secret, completed!.id)).toMatchObject({ event: OperatorEventType.replayCompleted });
    expect(received(operator.receiver, replayId)).toHaveLength(1);
  });
});
