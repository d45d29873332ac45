import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { waitUntil } from './wait';

/** A fresh database cloned from the migrated template: isolated per test file, ready in milliseconds. */
export function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createDatabase(`template ${inject('pgTemplate')}`);
}

/** A database with nothing in it, not even Herald's migrations: for what happens on a first start. */
export function createEmptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  return createDatabase('');
}

async function createDatabase(options: string): Promise<{ url: string; drop(): Promise<void> }> {
  const adminUrl = inject('pgAdminUrl');
  const name = `test_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (client) => client.query(`create database ${name} ${options}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withAdmin(adminUrl, async (client) => {
        await client.query(`drop database if exists ${name} with (force)`);
      }),
  };
}

async function withAdmin<T>(adminUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Plain SQL against a test database, for assertions the API does not expose (jobs, raw rows). */
export async function query<T extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Resolves once no graphile-worker job with one of these keys is left, queued or running: whatever those jobs
 * would do (an attempt, a replay's batch) has been done, and nothing more of it can happen.
 */
export async function waitForJobsGone(url: string, keys: string[], timeoutMs = 15_000): Promise<void> {
  await waitUntil(
    () =>
      query<{ left: number }>(url, 'select count(*)::int as left from graphile_worker._private_jobs where key = any($1::text[])', [keys]),
    (rows) => rows[0]!.left === 0,
    timeoutMs,
  );
}

/**
 * When Herald started each recorded attempt (`attempted_at`, taken from its clock before the request), in ms, oldest
 * first: for pacing and backoff checks on the system's own timestamps rather than on when a receiver saw a request.
 */
export async function attemptStartTimes(url: string, filter: { endpointId: string } | { deliveryId: string }): Promise<number[]> {
  const [column, value] = 'endpointId' in filter ? ['d.endpoint_id', filter.endpointId] : ['d.id', filter.deliveryId];
  const rows = await query<{ at: number }>(
    url,
    `select (extract(epoch from a.attempted_at) * 1000)::float8 as at
       from delivery_attempts a join deliveries d on d.id = a.delivery_id
      where ${column} = $1 order by a.attempted_at, a.number`,
    [value],
  );
  return rows.map((row) => row.at);
}

/**
 * These tables' statistics counters, summed: sequential and index scans, row updates and the HOT ones among them. A
 * backend reports its counters when it exits: end the connections whose work is to be counted, then wait on these.
 */
export async function tableCounters(
  url: string,
  tables: string[],
): Promise<{ seqScans: number; indexScans: number; updates: number; hotUpdates: number }> {
  const [row] = await query<{ seq: string; idx: string; upd: string; hot: string }>(
    url,
    `select coalesce(sum(seq_scan), 0)::text as seq, coalesce(sum(idx_scan), 0)::text as idx,
            coalesce(sum(n_tup_upd), 0)::text as upd, coalesce(sum(n_tup_hot_upd), 0)::text as hot
       from pg_stat_user_tables where relname = any($1)`,
    [tables],
  );
  return { seqScans: Number(row!.seq), indexScans: Number(row!.idx), updates: Number(row!.upd), hotUpdates: Number(row!.hot) };
}

/**
 * Connection options under which PostgreSQL plans every statement as a connection does from a prepared statement's
 * sixth execution on: generic plans, made without the values.
 */
export const GENERIC_PLANS = '-c plan_cache_mode=force_generic_plan';

/**
 * An SQL condition: graphile-worker's job row `job` (of `_private_jobs`, which holds the payload) carries the next
 * attempt of the delivery row `delivery`, as the delivery's own job (its key) or as one of a fan-out's batch.
 */
export function jobCarries(job: string, delivery: string): string {
  return `(${job}.key = 'deliver:' || ${delivery}.id or (${job}.payload -> 'deliveryIds')::jsonb ? ${delivery}.id)`;
}
