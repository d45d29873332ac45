import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import type { Logger } from '../../src/lib/logger';

/** A progress bar with elapsed time and an estimate of what is left; one line per update when not on a terminal. */
export function progress(label: string, done: number, total: number, startedAt: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const elapsed = (Date.now() - startedAt) / 1000;
  const left = done > 0 ? (elapsed * (total - done)) / done : 0;
  const timing = done === total ? `in ${elapsed.toFixed(1)} s` : `${elapsed.toFixed(0)} s, about ${left.toFixed(0)} s left`;
  const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')} ${timing}`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line.padEnd(100)}${done === total ? '\n' : ''}`);
  else console.log(line);
}

/**
 * A fresh database for a bench: on `databaseUrl`'s server when given (created there, dropped after), otherwise on a
 * throwaway embedded PostgreSQL in a temporary folder.
 */
export async function openDatabase(databaseUrl: string | undefined, logger: Logger): Promise<{ url: string; cleanup(): Promise<void> }> {
  const name = `herald_bench_${Date.now()}`;
  let embedded: EmbeddedPostgresHandle | null = null;
  let adminUrl: string;
  let dataDir: string | null = null;
  if (databaseUrl) {
    adminUrl = databaseUrl;
  } else {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-bench-pg-'));
    console.log(`starting an embedded PostgreSQL in ${dataDir}`);
    embedded = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pgdata'), logger, durable: false });
    adminUrl = embedded.adminUrl;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    cleanup: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
      await embedded?.stop();
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface BulkLoad {
  deliveries: number;
  endpoints: number;
  applications: number;
  /** Rows per transaction. */
  chunk: number;
  /** One attempt row per attempted delivery (as the executor writes), for a bench that deletes them. */
  attempts?: boolean;
}

/**
 * Events, deliveries and the rollups the executor would have written, spread over the last 24 hours for `endpoints`
 * endpoints in `applications` applications: 93% delivered, 5% dead, 1% retrying, 1% not attempted yet.
 */
export async function load(url: string, options: BulkLoad): Promise<void> {
  const { deliveries: DELIVERIES, endpoints: ENDPOINTS, applications: APPLICATIONS, chunk: CHUNK } = options;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      `insert into applications (id, name) select 'app_bench_' || a, 'Bench application ' || a from generate_series(1, $1) a`,
      [APPLICATIONS],
    );
    await client.query(
      `insert into endpoints (id, application_id, url, event_types, secret, headers)
       select 'ep_bench_' || lpad(e::text, 3, '0'), 'app_bench_' || (1 + e % $2), 'http://127.0.0.1:9/bench/' || e, '{}',
              'whsec_' || md5(e::text), '{}'::jsonb
       from generate_series(1, $1) e`,
      [ENDPOINTS, APPLICATIONS],
    );
    const spanSeconds = 86_400;
    const startedAt = Date.now();
    progress('loading deliveries', 0, DELIVERIES, startedAt);
    for (let start = 1; start <= DELIVERIES; start += CHUNK) {
      const end = Math.min(DELIVERIES, start + CHUNK - 1);
      // One row per delivery: 93% delivered, 5% dead, 1% retrying, 1% not attempted yet; latency skewed low.
      await client.query('begin');
      await client.query(
        `create temp table bench_rows on commit drop as
         select i, 'ep_bench_' || lpad((1 + i % $3)::text, 3, '0') as endpoint_id, 'app_bench_' || (1 + (1 + i % $3) % $4) as application_id,
                case when i % 100 < 93 then 'SUCCEEDED' when i % 100 < 98 then 'DEAD' when i % 100 < 99 then 'FAILED' else 'PENDING' end as status,
                now() - make_interval(secs => $5::float8 * ($6::int - i) / $6::int) as created_at,
                (5 + 2000 * random() * random() * random())::int as duration_ms
         from generate_series($1::int, $2::int) i`,
        [start, end, ENDPOINTS, APPLICATIONS, spanSeconds, DELIVERIES],
      );
      await client.query(
        `insert into events (id, application_id, type, payload, created_at)
         select 'evt_bench_' || lpad(i::text, 8, '0'), application_id, 'order.created', '{"bench":true}', created_at from bench_rows`,
      );
      await client.query(
        `insert into deliveries (id, event_id, endpoint_id, application_id, event_type, status, attempt_count, last_attempt_at,
                                 last_status_code, next_attempt_at, succeeded_at, created_at, updated_at)
         select 'dlv_bench_' || lpad(i::text, 8, '0'), 'evt_bench_' || lpad(i::text, 8, '0'), endpoint_id, application_id, 'order.created',
                status, case when status = 'PENDING' then 0 else 1 end, case when status = 'PENDING' then null else created_at end,
                case when status = 'SUCCEEDED' then 200 when status = 'PENDING' then null else 500 end,
                case when status = 'FAILED' then now() + interval '10 minutes' end,
                case when status = 'SUCCEEDED' then created_at end, created_at, created_at
         from bench_rows`,
      );
      if (options.attempts) {
        await client.query(
          `insert into delivery_attempts (id, delivery_id, number, attempted_at, url, request_headers, response_status, response_body,
                                          duration_ms, error_kind, error_message)
           select 'att_bench_' || lpad(i::text, 8, '0'), 'dlv_bench_' || lpad(i::text, 8, '0'), 1, created_at,
                  'http://127.0.0.1:9/bench/' || endpoint_id, '{"content-type":"application/json","webhook-id":"msg"}'::jsonb,
                  case when status = 'SUCCEEDED' then 200 else 500 end, case when status = 'SUCCEEDED' then 'ok' else 'broken' end,
                  duration_ms, case when status = 'SUCCEEDED' then null else 'HTTP_STATUS' end,
                  case when status = 'SUCCEEDED' then null else 'HTTP 500' end
           from bench_rows where status <> 'PENDING'`,
        );
      }
      // The rollups the executor writes attempt by attempt, added up for this chunk at once.
      for (const rollup of [
        { table: 'delivery_metrics_minutely', bucketColumn: 'minute', unit: 'minute' },
        { table: 'delivery_metrics_hourly', bucketColumn: 'hour', unit: 'hour' },
      ]) {
        await client.query(
          `insert into ${rollup.table} as m (endpoint_id, ${rollup.bucketColumn}, application_id, attempts, delivered, failed, dead, latency_sum_ms,
             latency_max_ms, latency_le_10, latency_le_25, latency_le_50, latency_le_100, latency_le_250, latency_le_500, latency_le_1000,
             latency_le_2500, latency_le_5000, latency_le_10000, latency_le_30000, latency_le_inf)
           select endpoint_id, date_trunc('${rollup.unit}', created_at), min(application_id), count(*),
                  count(*) filter (where status = 'SUCCEEDED'), count(*) filter (where status = 'FAILED'), count(*) filter (where status = 'DEAD'),
                  sum(duration_ms), max(duration_ms),
                  count(*) filter (where duration_ms <= 10), count(*) filter (where duration_ms > 10 and duration_ms <= 25),
                  count(*) filter (where duration_ms > 25 and duration_ms <= 50), count(*) filter (where duration_ms > 50 and duration_ms <= 100),
                  count(*) filter (where duration_ms > 100 and duration_ms <= 250), count(*) filter (where duration_ms > 250 and duration_ms <= 500),
                  count(*) filter (where duration_ms > 500 and duration_ms <= 1000), count(*) filter (where duration_ms > 1000 and duration_ms <= 2500),
                  count(*) filter (where duration_ms > 2500 and duration_ms <= 5000), count(*) filter (where duration_ms > 5000 and duration_ms <= 10000),
                  count(*) filter (where duration_ms > 10000 and duration_ms <= 30000), count(*) filter (where duration_ms > 30000)
           from bench_rows where status <> 'PENDING' group by endpoint_id, date_trunc('${rollup.unit}', created_at)
           on conflict (endpoint_id, ${rollup.bucketColumn}) do update set attempts = m.attempts + excluded.attempts, delivered = m.delivered + excluded.delivered,
             failed = m.failed + excluded.failed, dead = m.dead + excluded.dead, latency_sum_ms = m.latency_sum_ms + excluded.latency_sum_ms,
             latency_max_ms = greatest(m.latency_max_ms, excluded.latency_max_ms), latency_le_10 = m.latency_le_10 + excluded.latency_le_10,
             latency_le_25 = m.latency_le_25 + excluded.latency_le_25, latency_le_50 = m.latency_le_50 + excluded.latency_le_50,
             latency_le_100 = m.latency_le_100 + excluded.latency_le_100, latency_le_250 = m.latency_le_250 + excluded.latency_le_250,
             latency_le_500 = m.latency_le_500 + excluded.latency_le_500, latency_le_1000 = m.latency_le_1000 + excluded.latency_le_1000,
             latency_le_2500 = m.latency_le_2500 + excluded.latency_le_2500, latency_le_5000 = m.latency_le_5000 + excluded.latency_le_5000,
             latency_le_10000 = m.latency_le_10000 + excluded.latency_le_10000, latency_le_30000 = m.latency_le_30000 + excluded.latency_le_30000,
             latency_le_inf = m.latency_le_inf + excluded.latency_le_inf`,
        );
      }
      await client.query('commit');
      progress('loading deliveries', end, DELIVERIES, startedAt);
    }
    await client.query(
      `insert into endpoint_health (endpoint_id, consecutive_failures, last_error, last_error_at)
       select id, 0, null, null from endpoints where id like 'ep_bench_%'`,
    );
    process.stdout.write('analyzing… ');
    await client.query('vacuum analyze');
    const counts = await client.query<{ deliveries: string; rollups: string }>(
      `select (select count(*) from deliveries) as deliveries, (select count(*) from delivery_metrics_minutely) as rollups`,
    );
    console.log(`done: ${counts.rows[0]?.deliveries} deliveries, ${counts.rows[0]?.rollups} rollup rows`);
  } finally {
    await client.end();
  }
}
