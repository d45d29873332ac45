import type { MikroORM } from '@mikro-orm/postgresql';
import { runMigrations } from 'graphile-worker';
import { tuneJobQueueAutovacuum } from './autovacuum';
import { ensureJobTaskIndex } from './job-queue-internals';
import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { databaseErrorSummary, isDatabaseUnavailable } from './database-errors';
import type { HeraldConfig } from '../config';
import type { Logger } from '../lib/logger';
import { retry } from '../lib/retry';
import { workerLogger } from './graphile-worker-logger';
import { EMBEDDED_DATABASE, type EmbeddedPostgresHandle, embeddedDataDir, startEmbeddedPostgres } from './embedded-postgres';
import { migrations } from '../../migrations';
import { MIGRATIONS_TABLE, createOrm, migratorOf } from './orm';

export interface Database {
  url: string;
  orm: MikroORM;
  /** For graphile-worker and LISTEN: plain node-postgres, with error handlers so a lost server never crashes us. */
  pool: pg.Pool;
  embedded: EmbeddedPostgresHandle | null;
  close(): Promise<void>;
}

/**
 * Connects to DATABASE_URL, or starts the embedded PostgreSQL kept in the data folder when it is unset (or uses the
 * one a live Herald started there). A database that cannot be reached yet (restarting, not yet up) is waited for,
 * up to DATABASE_STARTUP_WAIT_MS. `onEmbeddedExit`: the embedded server this process started exited unasked.
 */
export async function openDatabase(
  config: HeraldConfig,
  logger: Logger,
  options: { onEmbeddedExit?: (detail: string) => void } = {},
): Promise<Database> {
  let embedded: EmbeddedPostgresHandle | null = null;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({
      dataDir: embeddedDataDir(config.dataDir),
      logger,
      port: config.embeddedPostgresPort,
      durable: config.env !== 'test',
      onUnexpectedExit: options.onEmbeddedExit,
    });
    await ensureDatabase(embedded.adminUrl, EMBEDDED_DATABASE);
    url = embedded.urlFor(EMBEDDED_DATABASE);
    logger.info(
      { url: withoutPassword(url) },
      'database: the embedded PostgreSQL (`npx herald db url` prints this URL with its password, for SQL producers)',
    );
  }
  // graphile-worker's connections, which the delivery pipeline also runs on (see DeliveryStore): its batches
  // need a few; graphile-worker wants one per job slot when it fetches without a local queue. With one, job
  // slots far outnumber the statements running at once, and several processes share max_connections.
  const poolSize = config.worker.localQueueSize > 0 ? Math.min(config.worker.concurrency, 64) : config.worker.concurrency;
  try {
    await waitForDatabase(url, logger, config.databaseStartupWaitMs);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const pool = createPool(url, logger, poolSize);
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
      await endPool(pool).catch((error: unknown) => logger.warn({ err: error }, 'closing the pool failed'));
      await embedded?.stop();
    },
  };
}

/**
 * Waits until the database answers, retrying with backoff (0.25 s doubling to 5 s) while it is unreachable or still
 * starting, for at most `waitMs`; any other refusal (a wrong password, a missing database) fails at once.
 */
export async function waitForDatabase(url: string, logger: Logger, waitMs: number): Promise<void> {
  const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
  await retry(
    async (attempt) => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('select 1');
        if (attempt > 1) logger.info({ attempts: attempt }, 'the database is reachable; starting');
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    {
      initialDelayMs: 250,
      maxDelayMs: 5000,
      deadline: Date.now() + waitMs,
      retryIf: isDatabaseUnavailable,
      deadlineError: (error) =>
        new Error(`the database could not be reached within ${waitMs} ms (DATABASE_STARTUP_WAIT_MS): ${reasonOf(error)}`),
      onRetry: ({ error, attempt, delayMs }) =>
        logger.warn({ attempt, retryInMs: delayMs, reason: reasonOf(error) }, 'waiting for the database'),
    },
  );
}

function withoutPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = '';
  return parsed.toString();
}

const openClients = new WeakMap<pg.Pool, Set<pg.Client>>();

export function createPool(url: string, logger: Logger, max = 20): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, idleTimeoutMillis: 30_000 });
  const open = new Set<pg.Client>();
  openClients.set(pool, open);
  // Message and code only: pg-pool hangs the whole client (its connection string and password) on an idle one's error.
  pool.on('error', (error) => logger.warn({ error: databaseErrorSummary(error) }, 'idle database connection failed'));
  pool.on('connect', (client) => {
    open.add(client);
    client.once('end', () => open.delete(client));
    client.on('error', (error) => logger.warn({ error: databaseErrorSummary(error) }, 'database connection failed'));
  });
  return pool;
}

/**
 * Ends the pool and waits until each of its connections has closed: pg-pool's `end()` resolves as soon as it has
 * asked them to, and a server stopped in that moment would terminate them mid-goodbye (57P01 on every one).
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  const open = [...(openClients.get(pool) ?? [])];
  await pool.end();
  const closed = Promise.all(
    open.map(
      (client) => new Promise<void>((resolve) => (openClients.get(pool)?.has(client) ? client.once('end', () => resolve()) : resolve())),
    ),
  );
  // Bounded: a connection whose server vanished may never say goodbye.
  await Promise.race([closed, delay(5000, undefined, { ref: false })]);
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
 *
 * Progress is logged step by step, as a line when a step starts and one when it is done, so a
 * terminal shows what a long migration is doing: the message is for people ("migrating 3/6: <name>",
 * "migrated 3/6: <name> in 120 ms"), the fields (step, steps, migration, durationMs) for log tools. It
 * goes through the logger like every other line, so LOG_PRETTY=false output stays one JSON object a line.
 */
export async function migrate(database: Pick<Database, 'orm' | 'pool'>, logger: Logger): Promise<string[]> {
  const lockClient = await database.pool.connect();
  const progress = (step: number, steps: number, what: string, fields: Record<string, unknown> = {}) => {
    const startedAt = performance.now();
    logger.info({ ...fields, step, steps }, `migrating ${step}/${steps}: ${what}`);
    return () => {
      const durationMs = Math.round(performance.now() - startedAt);
      logger.info({ ...fields, step, steps, durationMs }, `migrated ${step}/${steps}: ${what} in ${durationMs} ms`);
    };
  };
  try {
    await lockClient.query("select pg_advisory_lock(hashtext('herald:migrate'))");
    // Counted under the lock: another process may have applied some while this one waited. The migrator (and
    // the migrations) load only when something is to be applied.
    const migrator = (await unappliedMigrations(lockClient)).length > 0 ? await migratorOf(database.orm) : null;
    const pending = migrator ? await migrator.getPendingMigrations() : [];
    // graphile-worker's schema is one more step; on an up-to-date database it is a quick check, not shown.
    const steps = pending.length + 1;
    // One at a time for the progress, all in one transaction as before: all of them apply, or none.
    await database.orm.em.getConnection().transactional(async (transaction) => {
      for (const [index, migration] of pending.entries()) {
        const done = progress(index + 1, steps, migration.name, { migration: migration.name });
        await migrator!.up({ migrations: [migration.name], transaction });
        done();
      }
    });
    const done = pending.length > 0 ? progress(steps, steps, "graphile-worker's job queue schema") : null;
    // Herald handles its signals itself (graphile-worker's handlers would re-raise them to the whole process).
    await runMigrations({ pgPool: database.pool, logger: workerLogger(logger), noHandleSignals: true });
    await tuneJobQueueAutovacuum(lockClient);
    await ensureJobTaskIndex(lockClient);
    done?.();
    return pending.map((migration) => migration.name);
  } finally {
    await lockClient.query("select pg_advisory_unlock(hashtext('herald:migrate'))").catch(() => undefined);
    lockClient.release();
  }
}

/** Herald's migrations the database has not applied, by name, in order (all of them on an empty database). */
export async function unappliedMigrations(db: pg.Pool | pg.PoolClient): Promise<string[]> {
  const table = await db.query<{ found: string | null }>('select to_regclass($1)::text as found', [MIGRATIONS_TABLE]);
  const applied = new Set(
    table.rows[0]?.found ? (await db.query<{ name: string }>(`select name from ${MIGRATIONS_TABLE}`)).rows.map((row) => row.name) : [],
  );
  return migrations.map((migration) => migration.name).filter((name) => !applied.has(name));
}
