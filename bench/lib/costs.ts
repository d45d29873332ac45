import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { cpuSecondsWithChildren, round } from './proc';

/**
 * What a scenario cost, whole (from its first publish to its last delivery received), per delivery received: CPU of
 * the system's processes, of PostgreSQL (every backend, autovacuum and background process, those that exited
 * included) and of any other store it uses (the baseline's Redis), and the database's WAL, rows written and
 * transactions. Unlike throughput on a shared 2-core VM, these hold still from run to run.
 */
export interface PerDeliveryCosts {
  deliveries: number;
  /** The system's own processes (Herald's, or the baseline's), CPU ms per delivery. */
  systemCpuMs: number;
  /** null: PostgreSQL runs where its processes cannot be read (HERALD_BENCH_DATABASE_URL elsewhere). */
  postgresCpuMs: number | null;
  /** Other stores' processes (the baseline's Redis); 0 for Herald, null when unreadable. */
  otherStoresCpuMs: number | null;
  /** WAL written by the whole PostgreSQL server (only the bench uses it). */
  walBytes: number;
  /** Rows inserted, updated and deleted in the scenario's database (jobs' tables included). */
  rowsWritten: number;
  /** Transactions committed or rolled back in the scenario's database. */
  transactions: number;
  /** Where the rows written went: per table (schema-qualified), rows inserted, updated (of them HOT) and deleted. */
  rowsByTable: Record<string, TableWrites>;
}

export interface TableWrites {
  inserted: number;
  updated: number;
  hotUpdated: number;
  deleted: number;
}

/** An LSN ("16/B374D848") as a byte position in the WAL. */
function lsnBytes(lsn: string): number {
  const [high, low] = lsn.split('/');
  return Number.parseInt(high!, 16) * 2 ** 32 + Number.parseInt(low!, 16);
}

interface DatabaseCounters {
  walLsn: string;
  rows: number;
  transactions: number;
  tables: Record<string, TableWrites>;
}

interface Snapshot {
  systemCpu: number;
  postgresCpu: number | null;
  otherCpu: number | null;
  database: DatabaseCounters;
}

/** Where a CostMeter reads CPU from: each a function, since backends come and go. */
export interface CostSources {
  /** The system's processes (each counted with the children it waited for). */
  systemPids: () => number[];
  /** The postmaster and its live children, or null when PostgreSQL's processes cannot be read here. */
  postgres: { postmaster: number; children: () => number[] } | null;
  /** Other stores' processes (none for Herald). */
  otherPids?: () => number[] | null;
  /** The scenario's database. */
  databaseUrl: string;
}

/**
 * PostgreSQL flushes a backend's statistics at most once a second while it is busy and within 10 s once it idles
 * (PGSTAT_IDLE_INTERVAL): the row and transaction counters are read after that long.
 */
const STATISTICS_SETTLE_MS = 11_000;

export class CostMeter {
  private start: Snapshot | null = null;

  constructor(private readonly sources: CostSources) {}

  async begin(): Promise<void> {
    this.start = await this.snapshot();
  }

  /** `deliveries`: distinct deliveries received since begin(). */
  async end(deliveries: number): Promise<PerDeliveryCosts> {
    if (!this.start) throw new Error('CostMeter.end() before begin()');
    const cpu = this.cpu();
    const walLsn = await this.query(
      async (client) => (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn,
    );
    await sleep(STATISTICS_SETTLE_MS);
    const database = await this.counters();
    const start = this.start;
    const walBytes = lsnBytes(walLsn) - lsnBytes(start.database.walLsn);
    const per = (value: number, digits: number) => (deliveries > 0 ? round(value / deliveries, digits) : 0);
    const cpuMs = (end: number | null, begin: number | null) => (end === null || begin === null ? null : per((end - begin) * 1000, 3));
    const rowsByTable: Record<string, TableWrites> = {};
    for (const [table, end] of Object.entries(database.tables)) {
      const begin = start.database.tables[table] ?? { inserted: 0, updated: 0, hotUpdated: 0, deleted: 0 };
      const writes = {
        inserted: per(end.inserted - begin.inserted, 3),
        updated: per(end.updated - begin.updated, 3),
        hotUpdated: per(end.hotUpdated - begin.hotUpdated, 3),
        deleted: per(end.deleted - begin.deleted, 3),
      };
      if (writes.inserted + writes.updated + writes.deleted > 0) rowsByTable[table] = writes;
    }
    return {
      deliveries,
      rowsByTable,
      systemCpuMs: cpuMs(cpu.systemCpu, start.systemCpu) ?? 0,
      postgresCpuMs: cpuMs(cpu.postgresCpu, start.postgresCpu),
      otherStoresCpuMs: cpuMs(cpu.otherCpu, start.otherCpu),
      walBytes: per(walBytes, 0),
      rowsWritten: per(database.rows - start.database.rows, 2),
      transactions: per(database.transactions - start.database.transactions, 3),
    };
  }

  private async snapshot(): Promise<Snapshot> {
    return { ...this.cpu(), database: await this.counters() };
  }

  private cpu(): Omit<Snapshot, 'database'> {
    const sum = (pids: number[]) => pids.reduce((total, pid) => total + (cpuSecondsWithChildren(pid) ?? 0), 0);
    const postgres = this.sources.postgres;
    const other = this.sources.otherPids?.();
    return {
      systemCpu: sum(this.sources.systemPids()),
      postgresCpu: postgres ? cpuSecondsWithChildren(postgres.postmaster, postgres.children()) : null,
      otherCpu: other === undefined ? 0 : other === null ? null : sum(other),
    };
  }

  private async counters(): Promise<DatabaseCounters> {
    return this.query(async (client) => {
      const { rows } = await client.query<{ wal_lsn: string; rows: string; transactions: string }>(
        `select pg_current_wal_lsn()::text as wal_lsn, tup_inserted + tup_updated + tup_deleted as rows,
                xact_commit + xact_rollback as transactions
           from pg_stat_database where datname = current_database()`,
      );
      const tables = await client.query<{ name: string; ins: string; upd: string; hot: string; del: string }>(
        `select schemaname || '.' || relname as name, n_tup_ins as ins, n_tup_upd as upd, n_tup_hot_upd as hot, n_tup_del as del
           from pg_stat_all_tables where schemaname not in ('pg_catalog', 'information_schema', 'pg_toast')`,
      );
      return {
        walLsn: rows[0]!.wal_lsn,
        rows: Number(rows[0]!.rows),
        transactions: Number(rows[0]!.transactions),
        tables: Object.fromEntries(
          tables.rows.map((t) => [
            t.name,
            { inserted: Number(t.ins), updated: Number(t.upd), hotUpdated: Number(t.hot), deleted: Number(t.del) },
          ]),
        ),
      };
    });
  }

  private async query<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: this.sources.databaseUrl });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  }
}
