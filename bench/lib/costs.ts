import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { round } from './proc';

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

const TICKS_PER_SECOND = 100; // USER_HZ, as in proc.ts

/**
 * CPU seconds of a process and of its children that exited and were waited for (utime, stime, cutime, cstime), or
 * null once it is gone. The postmaster waits for every backend it forks, so its own figure plus its live children's
 * counts every backend, the short-lived (autovacuum workers) included.
 */
export function treeCpuSeconds(pid: number, liveChildren: number[] = []): number | null {
  const own = processCpuSeconds(pid, true);
  if (own === null) return null;
  return liveChildren.reduce((sum, child) => sum + (processCpuSeconds(child, false) ?? 0), own);
}

function processCpuSeconds(pid: number, withWaitedChildren: boolean): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    const ticks = fields[11]! + fields[12]! + (withWaitedChildren ? fields[13]! + fields[14]! : 0);
    return ticks / TICKS_PER_SECOND;
  } catch {
    return null;
  }
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
    const walLsn = (await this.counters()).walLsn;
    await sleep(STATISTICS_SETTLE_MS);
    const database = { ...(await this.counters()), walLsn };
    const start = this.start;
    const walBytes = await this.walBetween(start.database.walLsn, database.walLsn);
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
      if (writes.inserted + writes.updated + writes.deleted >= 0.001) rowsByTable[table] = writes;
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
    const sum = (pids: number[]) => pids.reduce((total, pid) => total + (treeCpuSeconds(pid) ?? 0), 0);
    const postgres = this.sources.postgres;
    const other = this.sources.otherPids?.();
    return {
      systemCpu: sum(this.sources.systemPids()),
      postgresCpu: postgres
        ? treeCpuSeconds(
            postgres.postmaster,
            postgres.children().filter((pid) => pid !== postgres.postmaster),
          )
        : null,
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

  private async walBetween(from: string, to: string): Promise<number> {
    return this.query(async (client) => {
      const { rows } = await client.query<{ bytes: string }>('select pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn) as bytes', [from, to]);
      return Number(rows[0]!.bytes);
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
