import type { EntityManager } from '@mikro-orm/postgresql';
import type pg from 'pg';

/** A node-postgres client or pool: the delivery pipeline's hot path runs its SQL without the ORM. */
export type SqlClient = Pick<pg.ClientBase, 'query'>;

/** Where `execute` runs: an entity manager (its current transaction, or a pooled connection) or a pg client. */
export type Sql = EntityManager | SqlClient;

/**
 * Runs SQL. Services use it where one statement does what the unit of work would do in many. Placeholders
 * are `?`; pass arrays as JSON text (knex expands an array binding into a list). Timestamps come back as
 * PostgreSQL text through the ORM and as Dates through pg: read them with toDate.
 *
 * Statements run on pg connections directly (an entity manager's transaction's, or a pooled one outside a
 * transaction), as prepared statements with their values as parameters: through the ORM every value is quoted into
 * the text (a 1 KB payload escaped character by character) and every statement parsed and planned again, which was
 * a quarter of the API's CPU per publish.
 */
export async function execute<T = Record<string, unknown>>(sql: Sql, text: string, params: unknown[] = []): Promise<T[]> {
  if (!('getConnection' in sql)) return (await sql.query(prepared(text, params))).rows as T[];
  const client = knexClientOf(sql);
  const connection = (await client.acquireConnection()) as SqlClient;
  try {
    return (await connection.query(prepared(text, params))).rows as T[];
  } finally {
    await client.releaseConnection(connection);
  }
}

/** What `execute` uses of a knex client. */
interface KnexConnectionSource {
  /** Set on the client knex makes for a transaction. */
  transacting?: boolean;
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
}

/**
 * The one reach into library internals here, written for knex 3.2.10 under MikroORM 6.6.16 and tested against them
 * (test/integration/sql-connection.test.ts): MikroORM's transaction context is a knex transaction, whose client's
 * `acquireConnection` resolves to the transaction's own connection (and `releaseConnection` does nothing); outside a
 * transaction, knex's root client lends a connection of the pool (and takes it back: each statement commits alone).
 */
function knexClientOf(em: EntityManager): KnexConnectionSource {
  const transaction = em.getTransactionContext<{ client?: KnexConnectionSource }>();
  if (!transaction) return em.getConnection().getKnex().client as KnexConnectionSource;
  if (transaction.client?.transacting !== true) {
    // Running on a pool connection instead would put the statement outside the transaction.
    throw new Error(
      'the transaction context is not a knex transaction: re-check knexClientOf in src/db/sql.ts against the installed knex and MikroORM',
    );
  }
  return transaction.client;
}

interface PreparedText {
  name: string | undefined;
  text: string;
}

const preparedCache = new Map<string, PreparedText>();
const PREPARED_MAX = 1000;

/**
 * `?` placeholders as pg's `$1, $2, ...` (our SQL has no `?` of its own: knex would read it as a placeholder
 * too), as a named statement: each connection parses it once and PostgreSQL can reuse its plan, instead of
 * parsing and planning every execution (planning the hot path's json_to_recordset statements cost more CPU
 * than running them). Texts past the cache's size run unnamed.
 */
function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let entry = preparedCache.get(text);
  if (entry === undefined) {
    let index = 0;
    const numberedText = text.replace(/\?/g, () => `$${++index}`);
    entry = { name: preparedCache.size < PREPARED_MAX ? `herald_${preparedCache.size}` : undefined, text: numberedText };
    if (entry.name) preparedCache.set(text, entry);
  }
  return entry.name ? { name: entry.name, text: entry.text, values } : { text: entry.text, values };
}

/** A piece of SQL with its `?` parameters in order, for a caller that joins several into one statement. */
export interface SqlFragment {
  text: string;
  params: unknown[];
}

/**
 * Runs writes as data-modifying CTEs of one statement, then `last` (a query, `select 1` by default): one round
 * trip instead of one per write. Each write runs once and to completion whether or not anything reads it, all
 * see the same snapshot, so they must touch different rows (different tables here).
 */
export async function executeWrites<T = Record<string, unknown>>(
  sql: Sql,
  writes: SqlFragment[],
  last: SqlFragment = { text: 'select 1', params: [] },
): Promise<T[]> {
  if (writes.length === 0) return execute<T>(sql, last.text, last.params);
  const ctes = writes.map((write, index) => `w${index} as (${write.text})`).join(',\n');
  return execute<T>(sql, `with ${ctes}\n${last.text}`, [...writes.flatMap((write) => write.params), ...last.params]);
}

/**
 * Runs `work` in a transaction on a client of `pool`: committed if it returns, rolled back if it throws.
 * `synchronousCommit: false` makes its commit not wait for the disk (set in the same round trip as `begin`).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { synchronousCommit?: boolean } = {},
): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(options.synchronousCommit === false ? 'begin; set local synchronous_commit = off' : 'begin');
    const result = await work(client);
    await client.query('commit');
    return result;
  } catch (error) {
    await client.query('rollback').catch((rollbackError: unknown) => {
      // A connection that cannot roll back is not given back to the pool.
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

export interface JobSpec {
  identifier: string;
  payload: unknown;
  runAt?: Date;
  jobKey?: string;
  maxAttempts?: number;
  queueName?: string;
  priority?: number;
  /** graphile-worker flags: a worker passing one in forbiddenFlags does not fetch the job. */
  flags?: string[];
}

/**
 * Enqueues graphile-worker jobs with one `add_jobs` call on the current transaction: the jobs exist if
 * and only if the transaction commits. Jobs with a key replace an unlocked job with the same key.
 */
export async function addJobs(db: Sql, jobs: JobSpec[]): Promise<void> {
  if (jobs.length === 0) return;
  await execute(
    db,
    `select 1 from graphile_worker.add_jobs(
       (select array_agg(spec) from json_populate_recordset(null::graphile_worker.job_spec, ?::json) as spec)
     )`,
    [jobSpecsJson(jobs)],
  );
}

/** Jobs as the JSON of graphile_worker.job_spec records (for json_populate_recordset). */
export function jobSpecsJson(jobs: JobSpec[]): string {
  return JSON.stringify(
    jobs.map((job) => ({
      identifier: job.identifier,
      payload: job.payload,
      queue_name: job.queueName ?? null,
      run_at: job.runAt?.toISOString() ?? null,
      max_attempts: job.maxAttempts ?? null,
      job_key: job.jobKey ?? null,
      priority: job.priority ?? null,
      flags: job.flags ?? null,
    })),
  );
}

export const NOTIFY_CHANNEL = 'herald_changes';

/** Queues a notification on the current transaction; PostgreSQL delivers it only if that commits. */
export async function notify(db: Sql, message: ChangeMessage | ChangeMessage[]): Promise<void> {
  const messages = Array.isArray(message) ? message : [message];
  if (messages.length === 0) return;
  const query = notifyQuery(messages);
  await execute(db, query.text, query.params);
}

/** The query that queues the messages' notifications (see notify), to end a statement of executeWrites. */
export function notifyQuery(messages: ChangeMessage[]): SqlFragment {
  // One NOTIFY per message keeps each under PostgreSQL's 8000-byte payload limit: ids only.
  return {
    text: `select pg_notify(?, m) from json_array_elements_text(?::json) as m`,
    params: [NOTIFY_CHANNEL, JSON.stringify(messages.map((m) => JSON.stringify(m)))],
  };
}

/** What a NOTIFY carries: ids and the new state, so listeners filter before loading anything. */
export type ChangeMessage =
  | {
      kind: 'delivery';
      deliveryId: string;
      eventId: string;
      endpointId: string;
      applicationId: string;
      status: string;
      attempt: number | null;
    }
  | { kind: 'event'; eventId: string; applicationId: string; type: string }
  /** An API key changed or was deleted (sent by a trigger on api_keys, whatever changed it). */
  | { kind: 'api-key'; keyId: string }
  | { kind: 'endpoint'; endpointId: string; applicationId: string; change: 'DISABLED' | 'ENABLED'; reason: string | null }
  /** A replay's progress or end; applicationId null: an admin's replay across applications. */
  | { kind: 'replay'; replayId: string; applicationId: string | null; status: string };

/**
 * Raw queries through the ORM return timestamps as PostgreSQL text ("2026-11-29 22:28:55.347816+00");
 * this turns that (or a Date) into a Date.
 */
export function toDate(value: string | Date): Date {
  if (value instanceof Date) return value;
  return new Date(value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
}
