import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeadLettersDocument,
  DeliveriesDocument,
  type DeliveryStatus,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { GENERIC_PLANS, createTestDatabase, query, tableCounters } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';
import { waitUntil } from '../helpers/wait';

/**
 * No index of `deliveries` holds its status, so that an outcome is a HOT update: the unfinished deliveries and the dead
 * letters are sets of their own (open_deliveries, dead_deliveries), kept by triggers by whatever statement changes a
 * status. Here every transition is made by plain SQL on `deliveries`, as any writer would, and the sets must follow.
 */
describe('the open and dead sets follow every status change', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let ids: string[];
  let applicationId: string;
  let endpointId: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, { roles: { api: true, worker: false } });
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'sets' } });
    applicationId = createApplication.id;
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: 'http://127.0.0.1:9/sets', eventTypes: ['*'], ordered: true },
    });
    endpointId = registerEndpoint.endpoint.id;
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: Array.from({ length: 6 }, (_, n) => ({ applicationId, type: 'sets.changed', data: { n } })),
    });
    ids = (
      await query<{ id: string }>(database.url, 'select id from deliveries where event_id = any($1) order by sequence', [
        publishEvents.map((event) => event.id),
      ])
    ).map((row) => row.id);
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  /** Each delivery of the test: its status, and the set rows it has (the open row's status and place in its group). */
  async function sets() {
    return query<{ status: string; open: string | null; dead: boolean }>(
      database.url,
      `select d.status, o.status || ' ' || o.ordering_group || ' ' || o.sequence as open, dd.delivery_id is not null as dead
         from deliveries d left join open_deliveries o on o.delivery_id = d.id left join dead_deliveries dd on dd.delivery_id = d.id
        where d.id = any($1) order by d.sequence`,
      [ids],
    );
  }

  it('a published delivery is open, in its FIFO group, with its sequence', async () => {
    const rows = await sets();
    expect(rows.map((row) => row.status)).toEqual(Array(6).fill('PENDING'));
    const [first] = await query<{ sequence: string }>(database.url, 'select sequence::text from deliveries where id = $1', [ids[0]]);
    expect(rows[0]).toEqual({ status: 'PENDING', open: `PENDING ${endpointId} ${first!.sequence}`, dead: false });
    expect(rows.every((row) => row.open !== null && !row.dead)).toBe(true);
  });

  it('failing keeps it open as FAILED; success, dead-lettering and cancelling take it out; only a dead letter is dead', async () => {
    // One statement with several transitions at once, as a record batch makes them.
    await query(
      database.url,
      `update deliveries set status = case id when $1 then 'FAILED' when $2 then 'SUCCEEDED' when $3 then 'DEAD' when $4 then 'CANCELLED' end,
              updated_at = now()
        where id in ($1, $2, $3, $4)`,
      [ids[0], ids[1], ids[2], ids[3]],
    );
    const rows = await sets();
    expect(rows.map((row) => [row.status, row.open?.split(' ')[0] ?? null, row.dead])).toEqual([
      ['FAILED', 'FAILED', false],
      ['SUCCEEDED', null, false],
      ['DEAD', null, true],
      ['CANCELLED', null, false],
      ['PENDING', 'PENDING', false],
      ['PENDING', 'PENDING', false],
    ]);
    const [dead] = await query<{ same: boolean }>(
      database.url,
      'select dd.dead_at = d.updated_at as same from dead_deliveries dd join deliveries d on d.id = dd.delivery_id where d.id = $1',
      [ids[2]],
    );
    expect(dead).toEqual({ same: true });
  });

  it('a statement that changes no status changes no set; a requeued dead letter or success is open again', async () => {
    await query(database.url, 'update deliveries set paused_ms = paused_ms + 1 where id = any($1)', [ids]);
    expect((await sets()).map((row) => [row.open?.split(' ')[0] ?? null, row.dead])).toEqual([
      ['FAILED', false],
      [null, false],
      [null, true],
      [null, false],
      ['PENDING', false],
      ['PENDING', false],
    ]);
    await query(database.url, `update deliveries set status = 'PENDING' where id in ($1, $2)`, [ids[1], ids[2]]);
    const rows = await sets();
    expect(rows[1]).toMatchObject({ status: 'PENDING', dead: false });
    expect(rows[2]).toMatchObject({ status: 'PENDING', dead: false });
    expect(rows[1]!.open).toMatch(/^PENDING /);
    expect(rows[2]!.open).toMatch(/^PENDING /);
  });

  it('lists by PENDING, FAILED or DEAD read the sets, page by page, in the application only', async () => {
    // Another application's deliveries of every status must not show.
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'other sets' } });
    await herald.call(RegisterEndpointDocument, {
      input: { applicationId: createApplication.id, url: 'http://127.0.0.1:9/o', eventTypes: ['*'] },
    });
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [1, 2].map((n) => ({ applicationId: createApplication.id, type: 'sets.other', data: { n } })),
    });
    await query(database.url, `update deliveries set status = 'DEAD' where event_id = $1`, [publishEvents[0]!.id]);
    await query(database.url, `update deliveries set status = 'DEAD', updated_at = now() where id = $1`, [ids[4]]);
    const statuses = new Map(
      (await query<{ id: string; status: string }>(database.url, 'select id, status from deliveries where id = any($1)', [ids])).map(
        (row) => [row.id, row.status],
      ),
    );
    const expected = (wanted: string[]) =>
      ids
        .filter((id) => wanted.includes(statuses.get(id)!))
        .sort()
        .reverse();
    const listed = async (status: DeliveryStatus[]) => {
      const found: string[] = [];
      let after: string | null | undefined;
      do {
        const { deliveries } = await herald.call(DeliveriesDocument, { filter: { applicationId, status }, page: { first: 1, after } });
        found.push(...deliveries.nodes.map((node) => node.id));
        after = deliveries.pageInfo.hasNextPage ? deliveries.pageInfo.endCursor : null;
      } while (after);
      return found;
    };
    expect(await listed(['PENDING', 'FAILED'])).toEqual(expected(['PENDING', 'FAILED']));
    expect(await listed(['FAILED'])).toEqual(expected(['FAILED']));
    expect(await listed(['DEAD', 'PENDING'])).toEqual(expected(['DEAD', 'PENDING']));
    // Outside the sets, the list filters the application's deliveries.
    expect(await listed(['SUCCEEDED', 'CANCELLED'])).toEqual(expected(['SUCCEEDED', 'CANCELLED']));
    const { deadLetters } = await herald.call(DeadLettersDocument, { filter: { applicationId } });
    expect(deadLetters.nodes.map((node) => node.id)).toEqual([ids[4]]);
  });

  it('with tens of thousands in each set, the triggers reach the sets by key, under generic plans too', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'large backlog' } });
    await herald.call(RegisterEndpointDocument, {
      input: { applicationId: createApplication.id, url: 'http://127.0.0.1:9/b', eventTypes: ['*'] },
    });
    for (let call = 0; call < 20; call++) {
      await herald.call(PublishEventsDocument, {
        inputs: Array.from({ length: 100 }, (_, n) => ({ applicationId: createApplication.id, type: 'sets.backlog', data: { call, n } })),
      });
    }
    // Half of them dead letters, and both sets as large as a busy installation's (rows of another application).
    await query(
      database.url,
      `update deliveries set status = 'DEAD', updated_at = now()
        where id in (select id from deliveries where application_id = $1 order by id limit 1000)`,
      [createApplication.id],
    );
    await query(
      database.url,
      `insert into open_deliveries (delivery_id, application_id, endpoint_id, status, created_at)
       select 'dlv_elsewhere_' || n, 'app_elsewhere', 'ep_elsewhere', 'PENDING', now() from generate_series(1, 50000) n`,
    );
    await query(
      database.url,
      `insert into dead_deliveries (delivery_id, application_id, endpoint_id, dead_at)
       select 'dlv_elsewhere_' || n, 'app_elsewhere', 'ep_elsewhere', now() from generate_series(1, 50000) n`,
    );
    await query(database.url, 'analyze open_deliveries');
    await query(database.url, 'analyze dead_deliveries');
    const scans = () => tableCounters(database.url, ['open_deliveries', 'dead_deliveries']);
    const before = await scans();
    const generic = new pg.Client({ connectionString: database.url, options: GENERIC_PLANS });
    await generic.connect();
    try {
      const ids = async (order: 'asc' | 'desc') =>
        (
          await generic.query<{ id: string }>(`select id from deliveries where application_id = $1 order by id ${order} limit 40`, [
            createApplication.id,
          ])
        ).rows.map((row) => row.id);
      const open = await ids('desc');
      const dead = await ids('asc');
      // Every transition between the sets, as a batch of outcomes, a requeue and a cancel make them.
      await generic.query(`update deliveries set status = 'FAILED' where id = any($1)`, [open]);
      await generic.query(`update deliveries set status = 'SUCCEEDED' where id = any($1)`, [open.slice(10)]);
      await generic.query(`update deliveries set status = 'DEAD', updated_at = now() where id = any($1)`, [open.slice(20)]);
      await generic.query(`update deliveries set status = 'PENDING' where id = any($1)`, [[...dead, ...open.slice(30)]]);
      await generic.query(`update deliveries set status = 'CANCELLED' where id = any($1)`, [open.slice(0, 5)]);
      await generic.query('delete from deliveries where id = any($1)', [[...open.slice(5, 10), ...dead.slice(0, 5)]]);
    } finally {
      // Its backend reports its statistics as it exits.
      await generic.end();
    }
    const after = await waitUntil(scans, (now) => now.indexScans > before.indexScans);
    expect(after.seqScans).toBe(before.seqScans);
  });

  it('deleting deliveries (their endpoint, their event) takes their set rows with them', async () => {
    await query(database.url, `update deliveries set status = 'DEAD', updated_at = now() where id = $1`, [ids[5]]);
    await query(database.url, 'delete from events where id = (select event_id from deliveries where id = $1)', [ids[5]]);
    await query(database.url, 'delete from endpoints where id = $1', [endpointId]);
    const [left] = await query<{ open: number; dead: number }>(
      database.url,
      `select (select count(*)::int from open_deliveries where application_id = $1) as open,
              (select count(*)::int from dead_deliveries where application_id = $1) as dead`,
      [applicationId],
    );
    expect(left).toEqual({ open: 0, dead: 0 });
  });
});
