import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, query } from '../helpers/database';
import { waitUntil } from '../helpers/wait';

/**
 * A delivery's event and endpoint are held by the fan-out (a key share lock per endpoint, and per event it did not
 * insert) and by delete triggers, not by foreign keys checked per delivery row: whatever order a publish and a
 * deletion come in, no delivery is left without its endpoint or its event, and deleting either deletes its deliveries.
 */
describe("a delivery's event and endpoint", () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.end()));
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    clients.push(client);
    return client;
  }

  /** An endpoint taking every event type. */
  async function addEndpoint(id: string, applicationId: string): Promise<void> {
    await query(
      database.url,
      `insert into endpoints (id, application_id, url, event_types, secret, headers)
       values ($1, $2, 'http://127.0.0.1:9/hook', '{*}', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', '{}')`,
      [id, applicationId],
    );
  }

  /** An application with two endpoints taking every event type. */
  async function application(name: string): Promise<{ applicationId: string; first: string; second: string }> {
    const applicationId = `app_${name}`;
    await query(database.url, `insert into applications (id, name) values ($1, $1)`, [applicationId]);
    for (const endpoint of ['first', 'second']) await addEndpoint(`ep_${name}_${endpoint}`, applicationId);
    return { applicationId, first: `ep_${name}_first`, second: `ep_${name}_second` };
  }

  /** Resolves once the backend `pid` waits for a lock: its statement has reached a row another transaction holds. */
  async function blockedOnLock(pid: number): Promise<void> {
    await waitUntil(
      () =>
        query<{ waiting: boolean }>(database.url, `select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = $1`, [pid]),
      (rows) => rows[0]?.waiting === true,
    );
  }

  async function backendPid(client: pg.Client): Promise<number> {
    return (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  }

  const publish = (client: pg.Client, applicationId: string) =>
    client.query<{ delivery_ids: string[] }>(`select delivery_ids from herald.publish_events($1::json)`, [
      JSON.stringify([{ application_id: applicationId, type: 'thing.done', data: { n: 1 } }]),
    ]);

  async function orphans(): Promise<number> {
    const [row] = await query<{ n: string }>(
      database.url,
      `select count(*) as n from deliveries d
        where not exists (select 1 from endpoints ep where ep.id = d.endpoint_id)
           or not exists (select 1 from events e where e.id = d.event_id)`,
    );
    return Number(row!.n);
  }

  async function deliveriesByEndpoint(applicationId: string): Promise<Record<string, number>> {
    const rows = await query<{ endpoint_id: string; n: string }>(
      database.url,
      'select endpoint_id, count(*) as n from deliveries where application_id = $1 group by endpoint_id',
      [applicationId],
    );
    return Object.fromEntries(rows.map((row) => [row.endpoint_id, Number(row.n)]));
  }

  it('an endpoint deleted while a publish to it is uncommitted waits for it, then deletes its deliveries too', async () => {
    const { applicationId, first, second } = await application('later_delete');
    const publisher = await connect();
    const deleter = await connect();
    await publisher.query('begin');
    const { rows } = await publish(publisher, applicationId);
    expect(rows[0]!.delivery_ids).toHaveLength(2);
    const deleterPid = await backendPid(deleter);
    const deleting = deleter.query('delete from endpoints where id = $1', [first]);
    await blockedOnLock(deleterPid);
    await publisher.query('commit');
    await deleting;
    expect(await deliveriesByEndpoint(applicationId)).toEqual({ [second]: 1 });
    expect(await orphans()).toBe(0);
  });

  it('a publish while an endpoint deletion is uncommitted waits for it and leaves the endpoint out', async () => {
    const { applicationId, first, second } = await application('earlier_delete');
    const publisher = await connect();
    const deleter = await connect();
    await deleter.query('begin');
    await deleter.query('delete from endpoints where id = $1', [first]);
    const publisherPid = await backendPid(publisher);
    const publishing = publish(publisher, applicationId);
    await blockedOnLock(publisherPid);
    await deleter.query('commit');
    const { rows } = await publishing;
    expect(rows[0]!.delivery_ids).toHaveLength(1);
    expect(await deliveriesByEndpoint(applicationId)).toEqual({ [second]: 1 });
    expect(await orphans()).toBe(0);
  });

  it("an endpoint's missed events fanned out while one is being deleted leave that event out", async () => {
    const { applicationId, first, second } = await application('missed');
    const client = await connect();
    for (let n = 0; n < 2; n++) expect((await publish(client, applicationId)).rows[0]!.delivery_ids).toHaveLength(2);
    const events = await query<{ id: string }>(database.url, 'select id from events where application_id = $1 order by id', [
      applicationId,
    ]);
    const latecomer = 'ep_missed_third';
    await addEndpoint(latecomer, applicationId);
    const purger = await connect();
    const fanner = await connect();
    await purger.query('begin');
    await purger.query('delete from events where id = $1', [events[1]!.id]);
    const fannerPid = await backendPid(fanner);
    const fanning = fanner.query<{ event_id: string }>('select event_id from herald.fan_out($1::text[], $2)', [
      events.map((event) => event.id),
      latecomer,
    ]);
    await blockedOnLock(fannerPid);
    await purger.query('commit');
    expect((await fanning).rows.map((row) => row.event_id)).toEqual([events[0]!.id]);
    expect(await deliveriesByEndpoint(applicationId)).toEqual({ [first]: 1, [second]: 1, [latecomer]: 1 });
    expect(await orphans()).toBe(0);
  });

  it('deleting events or endpoints deletes their deliveries, attempts and places in the sets', async () => {
    const { applicationId, first } = await application('cascade');
    const client = await connect();
    const published = (await publish(client, applicationId)).rows[0]!.delivery_ids;
    await publish(client, applicationId);
    await query(
      database.url,
      `insert into delivery_attempts (id, delivery_id, number, attempted_at, url, request_headers, duration_ms)
       select 'att_' || id, id, 1, now(), 'http://127.0.0.1:9/hook', '{}', 1 from deliveries where application_id = $1`,
      [applicationId],
    );
    const counts = async () =>
      (
        await query<{ deliveries: string; attempts: string; open: string }>(
          database.url,
          `select (select count(*) from deliveries where application_id = $1) as deliveries,
                  (select count(*) from delivery_attempts a join deliveries d on d.id = a.delivery_id where d.application_id = $1) as attempts,
                  (select count(*) from open_deliveries where application_id = $1) as open`,
          [applicationId],
        )
      ).map((row) => [Number(row.deliveries), Number(row.attempts), Number(row.open)])[0];
    expect(await counts()).toEqual([4, 4, 4]);
    await client.query('delete from endpoints where id = $1', [first]);
    expect(await counts()).toEqual([2, 2, 2]);
    await client.query('delete from events where id = (select event_id from deliveries where id = $1)', [published[1]]);
    expect(await counts()).toEqual([1, 1, 1]);
    expect(await query(database.url, 'select 1 from delivery_attempts where delivery_id = any($1)', [published])).toEqual([]);
    expect(await orphans()).toBe(0);
  });
});
