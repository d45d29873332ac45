import type { MigrationObject } from '@mikro-orm/core';

/**
 * Every migration, in order. Append-only once landed. Each is imported only when migrations are to be applied:
 * a running Herald whose database is up to date never loads the migration machinery (@mikro-orm/migrations and
 * umzug, about 10 MB resident).
 */
export const migrations: ReadonlyArray<{ name: string; load(): Promise<MigrationObject['class']> }> = [
  {
    name: 'Migration20261129000000_initial',
    load: async () => (await import('./Migration20261129000000_initial.js')).Migration20261129000000_initial,
  },
  {
    name: 'Migration20261129100000_security',
    load: async () => (await import('./Migration20261129100000_security.js')).Migration20261129100000_security,
  },
  {
    name: 'Migration20261129200000_reliability',
    load: async () => (await import('./Migration20261129200000_reliability.js')).Migration20261129200000_reliability,
  },
  {
    name: 'Migration20261129300000_catalog',
    load: async () => (await import('./Migration20261129300000_catalog.js')).Migration20261129300000_catalog,
  },
  {
    name: 'Migration20261129400000_metrics',
    load: async () => (await import('./Migration20261129400000_metrics.js')).Migration20261129400000_metrics,
  },
  {
    name: 'Migration20261130000000_replay',
    load: async () => (await import('./Migration20261130000000_replay.js')).Migration20261130000000_replay,
  },
  {
    name: 'Migration20261130100000_api_key_changes',
    load: async () => (await import('./Migration20261130100000_api_key_changes.js')).Migration20261130100000_api_key_changes,
  },
  {
    name: 'Migration20261130200000_autovacuum',
    load: async () => (await import('./Migration20261130200000_autovacuum.js')).Migration20261130200000_autovacuum,
  },
];

/** The migrations as MikroORM's migrator takes them. */
export async function loadMigrationsList(): Promise<MigrationObject[]> {
  return Promise.all(migrations.map(async (migration) => ({ name: migration.name, class: await migration.load() })));
}
