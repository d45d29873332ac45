import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs SQL on the entity manager's current transaction (or a pooled connection outside one). Services use
 * it where one statement does what the unit of work would do in many. Placeholders are `?`; pass arrays
 * as JSON text (knex expands an array binding into a list).
 */
export async function execute<T = Record<string, unknown>>(em: EntityManager, sql: string, params: unknown[] = []): Promise<T[]> {
  return em.getConnection().execute<T[]>(sql, params as never[], 'all', em.getTransactionContext());
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
export async function addJobs(em: EntityManager, jobs: JobSpec[]): Promise<void> {
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
export async function notify(em: EntityManager, message: ChangeMessage | ChangeMessage[]): Promise<void> {
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
