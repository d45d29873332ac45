import type { MigrationObject } from '@mikro-orm/core';

/**
 * Every migration, in order. Append-only once landed. Each is imported only when migrations are to be applied:
 * a running Herald whose database is up to date never loads the migration machinery (@mikro-orm/migrations and
 * umzug, about 10 MB resident). New migrations are appended to NAMES.
 */
const NAMES = [
  'Migration20261129000000_initial',
  'Migration20261129100000_security',
  'Migration20261129200000_reliability',
  'Migration20261129300000_catalog',
  'Migration20261129400000_metrics',
  'Migration20261130000000_replay',
  'Migration20261130100000_api_key_changes',
  'Migration20261130200000_autovacuum',
  'Migration20261130300000_sql_publish_ordering',
  'Migration20261206000000_one_fan_out',
  'Migration20261207000000_lean_publish',
  'Migration20261207100000_pause',
  'Migration20261207200000_portal',
  'Migration20261207300000_operator_events',
  'Migration20261207400000_audit_log',
  'Migration20261207500000_publish_job_rows',
  'Migration20261207600000_fewer_checks_per_delivery',
  'Migration20261207700000_fewer_index_writes_per_delivery',
  'Migration20261207800000_parked_deliveries',
  'Migration20261207900000_hot_delivery_updates',
  'Migration20261208000000_first_attempts_batched',
  'Migration20261208100000_unlogged_leases',
  'Migration20261208200000_fan_out_inserts_jobs',
  'Migration20261208300000_delivery_keys_by_statement',
];

export const migrations: ReadonlyArray<{ name: string; load(): Promise<MigrationObject['class']> }> = NAMES.map((name) => ({
  name,
  // Each file exports its migration class under the file's name.
  load: async () => ((await import(`./${name}.js`)) as Record<string, MigrationObject['class']>)[name]!,
}));

/** The migrations as MikroORM's migrator takes them. */
export async function loadMigrationsList(): Promise<MigrationObject[]> {
  return Promise.all(migrations.map(async (migration) => ({ name: migration.name, class: await migration.load() })));
}
