import { MikroORM, type Options, ReflectMetadataProvider } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { migrationsList } from '../../migrations';
import type { Logger } from '../lib/logger';
import { entities } from './entities';

export const GRAPHILE_WORKER_SCHEMA = 'graphile_worker';

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
    extensions: [Migrator],
    migrations: {
      tableName: 'herald_migrations',
      migrationsList,
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
