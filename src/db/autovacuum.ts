import type pg from 'pg';
import { jobTableStorageParameters, setJobTableStorageParameters } from './job-queue-internals';

/**
 * Autovacuum for tables whose rows are rewritten or deleted for every delivery (the job queue, the deliveries,
 * the endpoint slots): vacuumed once 1,000 rows are dead, whatever the table's size, and without cost-based pauses.
 */
export const HOT_TABLE_AUTOVACUUM =
  'autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0';

/** Gives graphile-worker's job table those settings (after its migrations: it exists only then). Idempotent. */
export async function tuneJobQueueAutovacuum(db: pg.Pool | pg.PoolClient): Promise<void> {
  const parameters = await jobTableStorageParameters(db);
  if (parameters === null || parameters.includes('autovacuum_vacuum_threshold=1000')) return;
  await setJobTableStorageParameters(db, HOT_TABLE_AUTOVACUUM);
}
