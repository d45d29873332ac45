import { type IMigrator, MikroORM, type Options, ReflectMetadataProvider } from '@mikro-orm/core';
import { type MikroORM as PostgreSqlMikroORM, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { loadMigrationsList } from '../../migrations';
import type { Logger } from '../lib/logger';
import { entities } from './entities';

export const GRAPHILE_WORKER_SCHEMA = 'graphile_worker';
/** Herald's applied migrations, by name (MikroORM's migration storage). */
export const MIGRATIONS_TABLE = 'herald_migrations';

export function ormOptions(databaseUrl: string, logger?: Logger, poolSize = 10): Options<PostgreSqlDriver> {
  return {
    driver: PostgreSqlDriver,
    clientUrl: databaseUrl,
    entities,
    metadataProvider: ReflectMetadataProvider,
    discovery: { warnWhenNoEntities: true },
    allowGlobalContext: false,
    pool: { min: 0, max: poolSize },
    debug: false,
    logger: (message) => logger?.debug({ orm: message }, 'orm'),
    // knex's own logger writes plain text to stdout (e.g. "Connection Error: ..." for each pooled connection a database
    // restart killed): its lines go through Herald's logger instead.
    driverOptions: {
      log: {
        debug: (message: unknown) => logger?.debug({ component: 'knex' }, String(message)),
        warn: (message: unknown) => logger?.warn({ component: 'knex' }, String(message)),
        error: (message: unknown) => logger?.error({ component: 'knex' }, String(message)),
        deprecate: (method: unknown, alternative: unknown) =>
          logger?.warn({ component: 'knex' }, `${String(method)} is deprecated, please use ${String(alternative)}`),
      },
    },
    migrations: {
      tableName: MIGRATIONS_TABLE,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
    },
    schemaGenerator: {
      ignoreSchema: [GRAPHILE_WORKER_SCHEMA],
      skipTables: ['endpoint_inflight', 'worker_heartbeats', 'ordering_sequences'],
    },
  };
}

export async function createOrm(databaseUrl: string, logger?: Logger, poolSize?: number): Promise<MikroORM<PostgreSqlDriver>> {
  return MikroORM.init(ormOptions(databaseUrl, logger, poolSize));
}

/**
 * The ORM's migrator with Herald's migrations, loaded on first use (see migrations/index.ts): a process that finds
 * nothing to apply never loads them.
 */
export async function migratorOf(orm: PostgreSqlMikroORM): Promise<IMigrator> {
  const [{ Migrator }, migrationsList] = await Promise.all([import('@mikro-orm/migrations'), loadMigrationsList()]);
  orm.config.set('migrations', { ...orm.config.get('migrations'), migrationsList });
  Migrator.register(orm);
  return orm.getMigrator();
}
