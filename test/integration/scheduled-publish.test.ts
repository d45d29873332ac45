import { describe, expect, it } from 'vitest';
import {
  AddEventTypeVersionDocument,
  CreateApplicationDocument,
  EventListenersDocument,
  PublishEventDocument,
  PublishEventsDocument,
  type RegisterEndpointMutationVariables,
  RegisterEndpointDocument,
  RegisterEventTypeDocument,
} from '../../src/sdk/generated/graphql';
import { jobCarries, query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';
import { receiversOfSuite } from '../helpers/receiver';

const heraldFile = heraldTestWith();

/**
 * Scheduled and targeted publishing (publishEvent's deliverAt and endpointIds), the publish result's count of
 * endpoints, and eventListeners, through GraphQL over HTTP and, for parity, through herald.publish_events.
 */
describe('deliverAt, endpointIds, matchedEndpoints and eventListeners', { timeout: 60_000 }, () => {
  let database: { url: string };
  let herald: TestHerald;
  const startReceiver = receiversOfSuite();

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    // Version pins name catalog versions.
    await herald.call(RegisterEventTypeDocument, { input: { name: 'refund.made', description: 'A refund was made.', example: { n: 0 } } });
    await herald.call(AddEventTypeVersionDocument, { input: { name: 'refund.made', version: '2.0', example: { n: 0 } } });
  });

  async function newApplication(name: string): Promise<string> {
    return (await herald.call(CreateApplicationDocument, { input: { name } })).createApplication.id;
  }

  async function register(input: RegisterEndpointMutationVariables['input']): Promise<string> {
    return (await herald.call(RegisterEndpointDocument, { input })).registerEndpoint.endpoint.id;
  }

  /** An application with three endpoints: every type, `parcel.*`, and `refund.*` pinned to version 2.0. */
  async function threeEndpoints(name: string) {
    const applicationId = await newApplication(name);
    const url = 'http://127.0.0.1:9/hook';
    const every = await register({ applicationId, url });
    const orders = await register({ applicationId, url, eventTypes: ['parcel.*'] });
    const refunds = await register({ applicationId, url, eventTypes: ['refund.*'], eventVersions: { 'refund.made': '2.0' } });
    return { applicationId, every, orders, refunds };
  }

  it('delivers only to the endpoints named, whose filters still apply, and says how many matched', async () => {
    const { applicationId, every, orders, refunds } = await threeEndpoints('targeted');
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'parcel.sent', data: { n: 1 }, endpointIds: [every, refunds] },
    });
    // refunds is named but its filter does not take parcel.sent.
    expect(publishEvent.matchedEndpoints).toBe(1);
    expect(publishEvent.deliveries.map((delivery) => delivery.endpointId)).toEqual([every]);

    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [
        { applicationId, type: 'parcel.sent', data: { n: 2 } },
        { applicationId, type: 'parcel.sent', data: { n: 3 }, endpointIds: [orders] },
        { applicationId, type: 'nobody.listens', data: { n: 4 }, endpointIds: [orders] },
      ],
    });
    expect(publishEvents.map((event) => event.matchedEndpoints)).toEqual([2, 1, 0]);
    expect(publishEvents.map((event) => event.deliveries.map((delivery) => delivery.endpointId).sort())).toEqual([
      [every, orders].sort(),
      [orders],
      [],
    ]);
  });

  it('refuses an endpoint of another application, naming it, and writes nothing', async () => {
    const mine = await threeEndpoints('mine');
    const theirs = await threeEndpoints('theirs');
    const before = await query<{ n: number }>(database.url, 'select count(*)::int as n from events where application_id = $1', [
      mine.applicationId,
    ]);
    const result = await herald.request(PublishEventsDocument, {
      inputs: [
        { applicationId: mine.applicationId, type: 'parcel.sent', data: { n: 1 } },
        { applicationId: mine.applicationId, type: 'parcel.sent', data: { n: 2 }, endpointIds: [mine.every, theirs.every] },
      ],
    });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: 'endpointIds', id: theirs.every, index: 1 });
    expect(result.errors?.[0]?.message).toContain(theirs.every);
    const after = await query<{ n: number }>(database.url, 'select count(*)::int as n from events where application_id = $1', [
      mine.applicationId,
    ]);
    expect(after[0]!.n).toBe(before[0]!.n);

    const empty = await herald.request(PublishEventDocument, {
      input: { applicationId: mine.applicationId, type: 'parcel.sent', data: {}, endpointIds: [] },
    });
    expect(empty.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'endpointIds' });

    // herald.* types are Herald's own operator events.
    const spoofed = await herald.request(PublishEventDocument, {
      input: { applicationId: mine.applicationId, type: 'herald.endpoint.disabled', data: {} },
    });
    expect(spoofed.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'type' });
  });

  it('makes a scheduled event due at deliverAt: its deliveries, their jobs and the event say so', async () => {
    const { applicationId, every, orders } = await threeEndpoints('scheduled');
    const deliverAt = new Date(Date.now() + 3_600_000);
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'parcel.sent', data: { n: 1 }, deliverAt: deliverAt.toISOString() },
    });
    expect(publishEvent.deliverAt).toBe(deliverAt.toISOString());
    expect(publishEvent.matchedEndpoints).toBe(2);
    const rows = await query<{ endpoint_id: string; due: Date; run_at: Date; deliver_at: Date }>(
      database.url,
      `select d.endpoint_id, d.next_attempt_at as due, j.run_at, e.deliver_at
         from deliveries d join events e on e.id = d.event_id
         join graphile_worker._private_jobs j on ${jobCarries('j', 'd')}
        where d.event_id = $1 order by d.endpoint_id`,
      [publishEvent.id],
    );
    expect(rows.map((row) => row.endpoint_id)).toEqual([every, orders].sort());
    for (const row of rows) {
      expect([row.due.toISOString(), row.run_at.toISOString(), row.deliver_at.toISOString()]).toEqual([
        deliverAt.toISOString(),
        deliverAt.toISOString(),
        deliverAt.toISOString(),
      ]);
    }

    // Further ahead than DELIVER_AT_MAX_AHEAD_DAYS (30 by default) is refused with what to do.
    const tooFar = await herald.request(PublishEventDocument, {
      input: { applicationId, type: 'parcel.sent', data: {}, deliverAt: new Date(Date.now() + 31 * 86_400_000).toISOString() },
    });
    expect(tooFar.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'deliverAt' });
    expect(tooFar.errors?.[0]?.message).toContain('DELIVER_AT_MAX_AHEAD_DAYS');
  });

  it('delivers a scheduled event once it is due, not before', async () => {
    const receiver = await startReceiver();
    const applicationId = await newApplication('due');
    await register({ applicationId, url: receiver.url });
    const deliverAt = new Date(Date.now() + 1_500);
    await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'parcel.sent', data: { n: 1 }, deliverAt: deliverAt.toISOString() },
    });
    const [request] = await receiver.waitForRequests(1, 20_000);
    // The job's run_at is the database's clock, the receipt this process's: same machine.
    expect(request!.receivedAt).toBeGreaterThanOrEqual(deliverAt.getTime() - 50);
  });

  it('a SQL producer schedules and targets exactly as the API does', async () => {
    const { applicationId, every, orders } = await threeEndpoints('sql parity');
    const deliverAt = new Date(Date.now() + 7_200_000);
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'parcel.sent', data: { n: 1 }, deliverAt: deliverAt.toISOString(), endpointIds: [orders] },
    });
    const [sql] = await query<{ id: string; delivery_ids: string[] }>(
      database.url,
      `select id, delivery_ids from herald.publish_events(json_build_array(json_build_object(
         'application_id', $1::text, 'type', 'parcel.sent', 'data', json_build_object('n', 1),
         'deliver_at', $2::timestamptz, 'endpoint_ids', json_build_array($3::text))))`,
      [applicationId, deliverAt.toISOString(), orders],
    );
    const shape = (eventId: string) =>
      query<{ endpoint_id: string; due: Date }>(
        database.url,
        'select endpoint_id, next_attempt_at as due from deliveries where event_id = $1 order by endpoint_id',
        [eventId],
      );
    expect(await shape(sql!.id)).toEqual(await shape(publishEvent.id));
    expect((await shape(sql!.id)).map((row) => row.endpoint_id)).toEqual([orders]);
    expect(sql!.delivery_ids).toHaveLength(1);
    expect(every).not.toBe(orders);

    // The SQL function refuses what the API refuses.
    await expect(
      query(
        database.url,
        `select * from herald.publish_events(json_build_array(json_build_object(
           'application_id', $1::text, 'type', 'parcel.sent', 'data', '{}'::json, 'deliver_at', now() + interval '91 days')))`,
        [applicationId],
      ),
    ).rejects.toThrow(/deliver_at must be at most 90 days ahead/);
    await expect(
      query(
        database.url,
        `select * from herald.publish_events(json_build_array(json_build_object(
           'application_id', $1::text, 'type', 'parcel.sent', 'data', '{}'::json, 'endpoint_ids', json_build_array('ep_nope'))))`,
        [applicationId],
      ),
    ).rejects.toThrow(/no endpoint 'ep_nope' in application/);
  });

  it('eventListeners counts the endpoints the fan-out would use, and stays in its application', async () => {
    const { applicationId, every, orders, refunds } = await threeEndpoints('listeners');
    const listeners = async (type: string, version?: string) =>
      (await herald.call(EventListenersDocument, { type, version, applicationId })).eventListeners;
    expect(await listeners('parcel.sent')).toEqual({ count: 2, endpointIds: [every, orders].sort() });
    expect(await listeners('refund.made', '2.0')).toEqual({ count: 2, endpointIds: [every, refunds].sort() });
    expect(await listeners('refund.made', '1.0')).toEqual({ count: 1, endpointIds: [every] });

    const other = await newApplication('listeners elsewhere');
    const key = await herald.createKey({ name: 'other app', applicationId: other });
    const refused = await herald.request(
      EventListenersDocument,
      { type: 'parcel.sent', applicationId },
      { authorization: `Bearer ${key}` },
    );
    expect(refused.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const unknown = await herald.request(EventListenersDocument, { type: 'parcel.sent', applicationId: 'app_nope' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const badType = await herald.request(EventListenersDocument, { type: 'not a type!', applicationId });
    expect(badType.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
