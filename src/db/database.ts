import path from 'node:path';
import type { MikroORM } from '@mikro-orm/postgresql';
import { runMigrations } from 'graphile-worker';
import pg from 'pg';
import type { HeraldConfig } from '../config';
import type { Logger } from '../lib/logger';
import { workerLogger } from '../worker/runner';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './embedded-postgres';
import { createOrm } from './orm';

export const EMBEDDED_DATABASE = 'herald';

export interface Database {
  url: string;
  orm: MikroORM;
  /** For graphile-worker and LISTEN: plain node-postgres, with error handlers so a lost server never crashes us. */
  pool: pg.Pool;
  embedded: EmbeddedPostgresHandle | null;
  close(): Promise<void>;
}

/** Connects to DATABASE_URL, or starts the embedded PostgreSQL kept in the data folder when it is unset. */
export async function openDatabase(config: HeraldConfig, logger: Logger): Promise<Database> {
  let embedded: EmbeddedPostgresHandle | null = null;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, 'pgdata'),
      logger,
      durable: config.env !== 'test',
    });
    await ensureDatabase(embedded.adminUrl, EMBEDDED_DATABASE);
    url = embedded.urlFor(EMBEDDED_DATABASE);
  }
  // graphile-worker's connections, which the delivery pipeline also runs on (see DeliveryStore): its batches
  // need a few; graphile-worker wants one per job slot when it fetches without a local queue.
  const pool = createPool(url, logger, config.worker.concurrency);
  let orm: MikroORM;
  try {
    // The API's connections (and the worker's housekeeping): deliveries do not use them.
    orm = await createOrm(url, logger, 30);
  } catch (error) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw error;
  }
  return {
    url,
    orm,
    pool,
    embedded,
    close: async () => {
      await orm.close(true).catch((error: unknown) => logger.warn({ err: error }, 'closing the ORM failed'));
      await pool.end().catch((error: unknown) => logger.warn({ err: error }, 'closing the pool failed'));
      await embedded?.stop();
    },
  };
}

export function createPool(url: string, logger: Logger, max = 20): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000 });
  pool.on('error', (error) => logger.warn({ err: error }, 'idle database connection failed'));
  pool.on('connect', (client) => client.on('error', (error) => logger.warn({ err: error }, 'database connection failed')));
  return pool;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await client.query(`create database ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/**
 * Applies Herald's migrations and installs graphile-worker's schema. An advisory lock lets many
 * processes start at once against one database.
 */
export async function migrate(database: Pick<Database, 'orm' | 'pool'>, logger: Logger): Promise<string[]> {
  const lockClient = await database.pool.connect();
  try {
    await lockClient.query("select pg_advisory_lock(hashtext('herald:migrate'))");
    const applied = await database.orm.getMigrator().up();
    for (const migration of applied) logger.info({ migration: migration.name }, 'applied migration');
    await runMigrations({ pgPool: database.pool, logger: workerLogger(logger) });
    return applied.map((migration) => migration.name);
  } finally {
    await lockClient.query("select pg_advisory_unlock(hashtext('herald:migrate'))").catch(() => undefined);
    lockClient.release();
  }
}
