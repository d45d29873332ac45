import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { createPool, migrate } from '../src/db/database';
import { createOrm } from '../src/db/orm';
import { createLogger } from '../src/lib/logger';
import { RetentionService } from '../src/modules/retention/retention.service';
import { load, openDatabase } from './lib/bulk-load';

/**
 * npm run bench:retention — what retention costs with 1,000,000 deliveries stored (`--deliveries=N`): bulk-loads them
 * over the last 24 hours with their events, one attempt per attempted delivery and the rollups, then runs the hourly
 * purge (RetentionService, at RETENTION_BATCH_SIZE) for everything older than 12 hours, as a retention age would.
 * Reports the purge's time, the WAL it wrote, the vacuum that reclaims the dead rows it left, and the disk the tables
 * hold before and after. Uses DATABASE_URL when set (a fresh database on it), otherwise a throwaway embedded
 * PostgreSQL.
 */
const DELIVERIES = Number(process.argv.find((arg) => arg.startsWith('--deliveries='))?.split('=')[1] ?? 1_000_000);
/** The tables a purge deletes from (the sets of open deliveries and dead letters exist from their migration on). */
const TABLES = ['events', 'deliveries', 'delivery_attempts', 'open_deliveries', 'dead_deliveries'];

const config = loadConfig();
const logger = createLogger({ level: 'warn', pretty: false, name: 'bench' });

interface TableState {
  table: string;
  rows: number;
  /** Heap, indexes and TOAST. */
  megabytes: number;
}

async function tableStates(client: pg.Client): Promise<TableState[]> {
  const states: TableState[] = [];
  for (const table of await existingTables(client)) {
    const { rows } = await client.query<{ rows: string; bytes: string }>(
      `select (select count(*) from ${table})::text as rows, pg_total_relation_size('public.${table}')::text as bytes`,
    );
    const row = rows[0]!;
    states.push({ table, rows: Number(row.rows), megabytes: Math.round(Number(row.bytes) / 104_857.6) / 10 });
  }
  return states;
}

async function existingTables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ table: string }>(
    `select t as table from unnest($1::text[]) with ordinality as x(t, n) where to_regclass('public.' || t) is not null order by n`,
    [TABLES],
  );
  return rows.map((row) => row.table);
}

async function walLsn(client: pg.Client): Promise<string> {
  return (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
}

async function walBytesSince(client: pg.Client, from: string): Promise<number> {
  return Number(
    (await client.query<{ bytes: string }>('select pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::text as bytes', [from])).rows[0]!.bytes,
  );
}

async function main(): Promise<void> {
  const loadAtStart = os.loadavg().map((value) => Math.round(value * 100) / 100);
  const database = await openDatabase(config.databaseUrl, logger);
  try {
    const orm = await createOrm(database.url, logger);
    const pool = createPool(database.url, logger, 4);
    process.stdout.write('migrating… ');
    await migrate({ orm, pool }, logger);
    await pool.end();
    console.log('done');
    await load(database.url, { deliveries: DELIVERIES, endpoints: 50, applications: 5, chunk: 100_000, attempts: true });

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      // Autovacuum off on these tables while the purge runs, so that the vacuum after it measures the whole backlog the
      // deletes leave (with it on, as in service, autovacuum pays the same cost in the background meanwhile).
      const tables = await existingTables(client);
      for (const table of tables) await client.query(`alter table ${table} set (autovacuum_enabled = false)`);
      await client.query('checkpoint');
      const before = await tableStates(client);
      // The loader spreads deliveries evenly over 24 hours: an age of 12 hours takes half of them.
      const olderThan = new Date(Date.now() - 12 * 3_600_000);
      const batchSize = config.retention.batchSize;
      const walFrom = await walLsn(client);
      const purgeStarted = performance.now();
      const purged = await new RetentionService(orm.em.fork()).purge({ olderThan, batchSize });
      const purgeMs = performance.now() - purgeStarted;
      const purgeWal = await walBytesSince(client, walFrom);
      await orm.close(true);
      const afterPurge = await tableStates(client);
      const deletedDeliveries = before[1]!.rows - afterPurge[1]!.rows;

      // The backlog the deletes left: what vacuum must read and write before the space is reused (none of it is
      // returned to the operating system).
      const vacuumFrom = await walLsn(client);
      const vacuumStarted = performance.now();
      for (const table of tables) await client.query(`vacuum ${table}`);
      const vacuumMs = performance.now() - vacuumStarted;
      const vacuumWal = await walBytesSince(client, vacuumFrom);
      for (const table of tables) await client.query(`alter table ${table} reset (autovacuum_enabled)`);
      const afterVacuum = await tableStates(client);

      const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
      const purge = {
        batchSize,
        events: purged.events,
        batches: purged.batches,
        deliveries: deletedDeliveries,
        seconds: round(purgeMs / 1000, 2),
        deliveriesPerSecond: Math.round(deletedDeliveries / (purgeMs / 1000)),
        walMegabytes: round(purgeWal / 1_048_576),
        walBytesPerDelivery: Math.round(purgeWal / Math.max(1, deletedDeliveries)),
      };
      const vacuum = { seconds: round(vacuumMs / 1000, 2), walMegabytes: round(vacuumWal / 1_048_576) };
      console.log(`\nretention: ${DELIVERIES.toLocaleString('en')} deliveries stored, everything older than 12 hours purged`);
      console.log('| step | deliveries removed | time | WAL |');
      console.log('|---|---|---|---|');
      console.log(
        `| purge (${purged.batches} batches of ${batchSize} events) | ${deletedDeliveries.toLocaleString('en')} | ${purge.seconds} s (${purge.deliveriesPerSecond.toLocaleString('en')} deliveries/s) | ${purge.walMegabytes} MB (${purge.walBytesPerDelivery} bytes per delivery) |`,
      );
      console.log(`| vacuum of the dead rows it left | - | ${vacuum.seconds} s | ${vacuum.walMegabytes} MB |`);
      console.log('\n| table | rows before | rows deleted | MB before | MB after the purge | MB after vacuum |');
      console.log('|---|---|---|---|---|---|');
      for (const [index, state] of before.entries()) {
        const purgedState = afterPurge[index]!;
        console.log(
          `| ${state.table} | ${state.rows.toLocaleString('en')} | ${(state.rows - purgedState.rows).toLocaleString('en')} | ${state.megabytes} | ${purgedState.megabytes} | ${afterVacuum[index]!.megabytes} |`,
        );
      }
      const report = {
        deliveries: DELIVERIES,
        measuredAt: new Date().toISOString(),
        loadAverage: { atStart: loadAtStart, atEnd: os.loadavg().map((value) => Math.round(value * 100) / 100) },
        purge,
        vacuum,
        tables: before.map((state, index) => ({ before: state, afterPurge: afterPurge[index], afterVacuum: afterVacuum[index] })),
      };
      await mkdir('bench/results', { recursive: true });
      await writeFile('bench/results/retention.json', `${JSON.stringify(report, null, 2)}\n`);
      console.log('\nwritten to bench/results/retention.json');
    } finally {
      await client.end();
    }
  } finally {
    await database.cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
