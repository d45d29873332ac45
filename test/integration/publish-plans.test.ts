import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database';

/**
 * A migrated database for the enclosing describe, and a producer's connection to it: `setting` on for its session,
 * an endpoint taking the `<name>.*` events. Returns the connection, open from beforeAll on.
 */
function producerConnection(setting: string, name: string): () => pg.Client {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let producer: pg.Client | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
    producer = new pg.Client({ connectionString: database.url });
    await producer.connect();
    await producer.query(setting);
    await producer.query(
      `insert into endpoints (id, application_id, url, event_types, secret, headers)
       values ($1, 'app_default', 'http://127.0.0.1:9/hook', $2, $3, '{}')`,
      [`ep_${name}`, [`${name}.*`], `whsec_${name}`],
    );
  });
  afterAll(async () => {
    await producer?.end();
    await database?.drop();
  });
  return () => producer!;
}

/** Rows of a statistics view, read on `producer` once its session's statistics are flushed. */
async function flushedStatistics<T extends pg.QueryResultRow>(producer: pg.Client, text: string): Promise<T[]> {
  await producer.query('select pg_stat_force_next_flush()');
  // A new transaction flushes what the last one counted; a fresh snapshot then reads it.
  await producer.query('select 1');
  await producer.query('select pg_stat_clear_snapshot()');
  return (await producer.query<T>(text)).rows;
}

/**
 * herald.publish_events and herald.fan_out_events plan their statements once per connection (force_generic_plan),
 * so a plan made while the tables were still empty is kept while they grow. A publish must therefore never depend
 * on reading a table whole: one that read `events` back by id scanned it on every later call of that connection,
 * and each call grew slower with the table. PostgreSQL counts every sequential scan of a table; a publish adds none.
 * The session runs with foreign-key triggers off (session_replication_role replica): their checks are PostgreSQL's
 * own queries, planned by it for each connection, and are not what is tested here.
 */
describe('a publish reads no table whole, whatever the plans were made on', () => {
  const connection = producerConnection("set session_replication_role = 'replica'", 'plans');

  /** Sequential scans of the tables a publish writes, as counted once this session's statistics are flushed. */
  async function sequentialScans(): Promise<Record<string, number>> {
    const rows = await flushedStatistics<{ relname: string; seq_scan: string }>(
      connection(),
      `select relname, seq_scan from pg_stat_user_tables where schemaname = 'public' and relname in ('events', 'deliveries')`,
    );
    return Object.fromEntries(rows.map((row) => [row.relname, Number(row.seq_scan)]));
  }

  const batch = (from: number, count: number) =>
    JSON.stringify(Array.from({ length: count }, (_, i) => ({ type: 'plans.made', data: { n: from + i, padding: 'x'.repeat(500) } })));

  it('publishes on a connection whose plans were made on empty tables without scanning events or deliveries', async () => {
    const producer = connection();
    // The first call plans every statement while events and deliveries are empty.
    const first = await producer.query('select * from herald.publish_events($1::json)', [batch(0, 1)]);
    expect(first.rows).toHaveLength(1);
    // Enough rows that a table read whole spans many pages.
    for (let i = 0; i < 20; i++) await producer.query('select count(*) from herald.publish_events($1::json)', [batch(1 + i * 100, 100)]);

    const before = await sequentialScans();
    for (let i = 0; i < 10; i++) await producer.query('select count(*) from herald.publish_events($1::json)', [batch(3000 + i * 100, 100)]);
    const after = await sequentialScans();

    const { rows } = await producer.query<{ events: string; deliveries: string }>(
      'select (select count(*) from events) as events, (select count(*) from deliveries) as deliveries',
    );
    expect({ events: Number(rows[0]!.events), deliveries: Number(rows[0]!.deliveries) }).toEqual({ events: 3001, deliveries: 3001 });
    expect(before.events).toBeTypeOf('number');
    expect(after).toEqual(before);
  });
});

/**
 * A SQL function that PostgreSQL does not inline runs through its own executor on every call, its body parsed and
 * planned again in each statement that calls it: herald.id_random, given gen_random_uuid() and reading it twice, was
 * not inlined, nor was a job spec's helper declared IMMUTABLE over json_build_object (STABLE). PostgreSQL counts
 * calls only of functions it did not inline (track_functions 'all'), so a publish must show none of a SQL function.
 */
describe("a publish's SQL helpers are inlined", () => {
  const connection = producerConnection("set track_functions = 'all'", 'inlined');

  /** Calls of each herald function this session made without inlining it, by language, once its statistics are flushed. */
  async function calls(): Promise<Array<{ name: string; language: string; calls: number }>> {
    const rows = await flushedStatistics<{ name: string; language: string; calls: string }>(
      connection(),
      `select s.funcname as name, l.lanname as language, s.calls
         from pg_stat_user_functions s join pg_proc p on p.oid = s.funcid join pg_language l on l.oid = p.prolang
        where s.schemaname = 'herald'`,
    );
    return rows.map((row) => ({ ...row, calls: Number(row.calls) }));
  }

  it('calls no SQL function of herald without inlining it', async () => {
    const producer = connection();
    const events = JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ type: 'inlined.made', data: { n: i } })));
    const { rows } = await producer.query<{ delivery_ids: string[] }>('select delivery_ids from herald.publish_events($1::json)', [events]);
    expect(rows.flatMap((row) => row.delivery_ids)).toHaveLength(50);
    const counted = await calls();
    // The PL/pgSQL functions are counted (they are never inlined): the statistics are on.
    expect(counted.find((row) => row.name === 'publish_events')).toMatchObject({ language: 'plpgsql', calls: 1 });
    expect(counted.filter((row) => row.language === 'sql')).toEqual([]);
  });
});
