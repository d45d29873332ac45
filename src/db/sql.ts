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
 */
export async function execute<T = Record<string, unknown>>(sql: Sql, text: string, params: unknown[] = []): Promise<T[]> {
  if ('getConnection' in sql) return sql.getConnection().execute<T[]>(text, params as never[], 'all', sql.getTransactionContext());
  const result = await sql.query(numbered(text), params);
  return result.rows as T[];
}

const numberedCache = new Map<string, string>();

/** `?` placeholders as pg's `$1, $2, ...` (our SQL has no `?` of its own: knex would read it as a placeholder too). */
function numbered(text: string): string {
  let converted = numberedCache.get(text);
  if (converted === undefined) {
    let index = 0;
    converted = text.replace(/\?/g, () => `$${++index}`);
    if (numberedCache.size < 1000) numberedCache.set(text, converted);
  }
  return converted;
}

/** Runs `work` in a transaction on a client of `pool`: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
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
}

/**
 * Enqueues graphile-worker jobs with one `add_jobs` call on the current transaction: the jobs exist if
 * and only if the transaction commits. Jobs with a key replace an unlocked job with the same key.
 */
export async function addJobs(em: Sql, jobs: JobSpec[]): Promise<void> {
  if (jobs.length === 0) return;
  const specs = jobs.map((job) => ({
    identifier: job.identifier,
    payload: job.payload,
    queue_name: job.queueName ?? null,
    run_at: job.runAt?.toISOString() ?? null,
    max_attempts: job.maxAttempts ?? null,
    job_key: job.jobKey ?? null,
    priority: job.priority ?? null,
    flags: null,
  }));
  await execute(
    em,
    `select 1 from graphile_worker.add_jobs(
       (select array_agg(spec) from json_populate_recordset(null::graphile_worker.job_spec, ?::json) as spec)
     )`,
    [JSON.stringify(specs)],
  );
}

export const NOTIFY_CHANNEL = 'herald_changes';

/** Queues a notification on the current transaction; PostgreSQL delivers it only if that commits. */
export async function notify(em: Sql, message: ChangeMessage | ChangeMessage[]): Promise<void> {
  const messages = Array.isArray(message) ? message : [message];
  if (messages.length === 0) return;
  // One NOTIFY per message keeps each under PostgreSQL's 8000-byte payload limit: ids only.
  await execute(em, `select pg_notify(?, m) from json_array_elements_text(?::json) as m`, [
    NOTIFY_CHANNEL,
    JSON.stringify(messages.map((m) => JSON.stringify(m))),
  ]);
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
