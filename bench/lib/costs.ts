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
  /** Where the WAL went, bytes per delivery: per table, its own pages and its indexes' (`--wal-by-table` only). */
  walByTable?: Record<string, TableWal>;
}

export interface TableWal {
  table: number;
  indexes: number;
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
  /**
   * Also attribute the scenario's WAL to tables (pg_walinspect; needs a superuser). A replication slot keeps the WAL
   * from the scenario's start until it is read, so PostgreSQL makes new WAL files rather than recycling old ones.
   */
  walByTable?: boolean;
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
    if (this.sources.walByTable) await this.holdWal();
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
    const walByTable = this.sources.walByTable ? await this.readWalByTable(start.database.walLsn, walLsn, deliveries) : undefined;
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
      ...(walByTable ? { walByTable } : {}),
    };
  }

  /** The session holding a temporary replication slot from begin() to end(): the slot goes when the session does. */
  private walHolder: pg.Client | null = null;

  private async holdWal(): Promise<void> {
    await this.walHolder?.end();
    const client = new pg.Client({ connectionString: this.sources.databaseUrl });
    await client.connect();
    this.walHolder = client;
    await client.query('create extension if not exists pg_walinspect');
    await client.query('select pg_create_physical_replication_slot($1, true, true)', [`herald_bench_wal_${process.pid}`]);
  }

  /**
   * Each WAL record of the scenario counted against the relation of its first block: a table's own (heap, TOAST)
   * or one of its indexes'. Records of no relation (commits) and of other databases are counted apart.
   */
  private async readWalByTable(from: string, to: string, deliveries: number): Promise<Record<string, TableWal>> {
    const client = this.walHolder;
    if (!client) throw new Error('CostMeter: the WAL was not held since begin()');
    this.walHolder = null;
    try {
      const { rows } = await client.query<{ name: string; table_bytes: string; index_bytes: string }>(
        `with records as (
           select record_length, regexp_match(block_ref, 'rel \\d+/(\\d+)/(\\d+)') as rel
           from pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)
         ), relations as (
           select pg_relation_filenode(c.oid) as filenode, c.relkind = 'i' as is_index, coalesce(i.indrelid, c.oid) as base
           from pg_class c left join pg_index i on i.indexrelid = c.oid
         ), named as (
           select r.filenode, r.is_index, n.nspname || '.' || owner.relname as name
           from relations r
           join pg_class base on base.oid = r.base
           join pg_class owner on owner.oid = coalesce((select t.oid from pg_class t where t.reltoastrelid = base.oid), base.oid)
           join pg_namespace n on n.oid = owner.relnamespace
         )
         select case when r.rel is null then '(no relation: commits and the like)'
                     when r.rel[1]::oid <> (select oid from pg_database where datname = current_database()) then '(other databases)'
                     else coalesce(named.name, '(dropped relations)') end as name,
                coalesce(sum(r.record_length) filter (where named.is_index is not true), 0) as table_bytes,
                coalesce(sum(r.record_length) filter (where named.is_index), 0) as index_bytes
         from records r left join named on named.filenode = r.rel[2]::oid
         group by 1`,
        [from, to],
      );
      const per = (bytes: string) => (deliveries > 0 ? round(Number(bytes) / deliveries, 0) : 0);
      return Object.fromEntries(rows.map((row) => [row.name, { table: per(row.table_bytes), indexes: per(row.index_bytes) }]));
    } finally {
      await client.end();
    }
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
