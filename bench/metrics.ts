import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { createPool, migrate } from '../src/db/database';
import { type EmbeddedPostgresHandle, freePort, startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { startHerald as startHeraldProcess } from './lib/herald-process';
import { launchChromium } from '../test/helpers/browser';
import { createOrm } from '../src/db/orm';
import { ApiKeyService } from '../src/modules/api-keys/api-key.service';
import { systemClock } from '../src/lib/clock';
import { createLogger } from '../src/lib/logger';
import { MetricsService } from '../src/modules/metrics/metrics.service';
import { MetricsWindow } from '../src/modules/metrics/metrics-window';

/**
 * npm run bench:metrics — bulk-loads 1,000,000 deliveries (events, deliveries and the rollups the
 * executor would have written) spread over the last 24 hours, then measures the metrics query (in
 * this process, and over HTTP from a `herald api` process) and the dashboard's first load in headless
 * Chromium, next to a blank page loaded the same way (the browser's own floor). Uses DATABASE_URL when
 * set (into a fresh database it creates), otherwise a throwaway embedded PostgreSQL.
 */
const DELIVERIES = Number(process.argv.find((arg) => arg.startsWith('--deliveries='))?.split('=')[1] ?? 1_000_000);
const ENDPOINTS = 50;
const APPLICATIONS = 5;
const CHUNK = 100_000;
const RUNS = 30;

const config = loadConfig();
const logger = createLogger({ level: 'warn', pretty: false, name: 'bench' });

/** A progress bar with elapsed time and an estimate of what is left; one line per update when not on a terminal. */
function progress(label: string, done: number, total: number, startedAt: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const elapsed = (Date.now() - startedAt) / 1000;
  const left = done > 0 ? (elapsed * (total - done)) / done : 0;
  const timing = done === total ? `in ${elapsed.toFixed(1)} s` : `${elapsed.toFixed(0)} s, about ${left.toFixed(0)} s left`;
  const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')} ${timing}`;
  if (process.stdout.isTTY) process.stdout.write(`\r${line.padEnd(100)}${done === total ? '\n' : ''}`);
  else console.log(line);
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  const round = (value: number) => Math.round(value * 10) / 10;
  return {
    runs: sorted.length,
    medianMs: round(at(0.5)),
    p95Ms: round(at(0.95)),
    minMs: round(sorted[0] ?? 0),
    maxMs: round(sorted.at(-1) ?? 0),
  };
}

async function time<T>(work: () => Promise<T>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

async function measure(label: string, work: () => Promise<unknown>, runs = RUNS) {
  await work(); // warm-up: plans cached, pages in memory
  const samples: number[] = [];
  for (let run = 0; run < runs; run += 1) samples.push(await time(work));
  const result = { label, ...stats(samples) };
  printStat(result);
  return result;
}

function printStat(entry: { label: string; medianMs: number; p95Ms: number }): void {
  console.log(`${entry.label.padEnd(58)} median ${String(entry.medianMs).padStart(7)} ms   p95 ${String(entry.p95Ms).padStart(7)} ms`);
}

type Timeline = Record<string, number>;

/**
 * Runs in the page (a string: this file is compiled without the DOM's types): when each part of the
 * first load ended, from the browser's own timeline (navigation and resource timing, paints, and the
 * dashboard's performance marks), in ms from navigation start.
 */
const TIMELINE = `(() => {
  const result = {};
  const navigation = performance.getEntriesByType('navigation')[0];
  if (navigation) {
    result['html: response start'] = navigation.responseStart;
    result['html: response end'] = navigation.responseEnd;
    result['html: parsed (domInteractive)'] = navigation.domInteractive;
    result['html: DOMContentLoaded'] = navigation.domContentLoadedEventEnd;
  }
  for (const entry of performance.getEntriesByType('resource')) {
    const url = new URL(entry.name);
    if (url.pathname === '/graphql') continue;
    const name = url.pathname.replace(/-[\\w-]{8}\\./, '.');
    result[name + ': start'] = entry.startTime;
    result[name + ': end'] = entry.responseEnd;
  }
  result.timeOrigin = performance.timeOrigin;
  for (const mark of performance.getEntriesByType('mark')) result['mark ' + mark.name] = mark.startTime;
  for (const paint of performance.getEntriesByType('paint')) result[paint.name] = paint.startTime;
  return result;
})()`;

/** A page of one line with one inline script, the least any page can be; closed after use. */
async function serveBlankPage(): Promise<{ url: string; close(): Promise<void> }> {
  const html =
    '<!doctype html><html><head><meta charset="utf-8"><title>blank</title></head>' +
    '<body><p>0</p><script>document.body.dataset.scriptMs = String(Math.round(performance.now()))</script></body></html>';
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function medianTimeline(timelines: Timeline[]): Timeline {
  const names = [...new Set(timelines.flatMap((entry) => Object.keys(entry)))];
  const medians = names.map((name) => {
    const values = timelines.map((entry) => entry[name]).filter((value): value is number => value !== undefined);
    return [name, stats(values).medianMs] as const;
  });
  return Object.fromEntries(medians.sort((a, b) => a[1] - b[1]));
}

async function openDatabase(): Promise<{ url: string; cleanup(): Promise<void> }> {
  const name = `herald_bench_${Date.now()}`;
  let embedded: EmbeddedPostgresHandle | null = null;
  let adminUrl: string;
  let dataDir: string | null = null;
  if (config.databaseUrl) {
    adminUrl = config.databaseUrl;
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

async function load(url: string): Promise<void> {
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

async function main(): Promise<void> {
  // A shared machine's other work shows in every figure: the report says how busy it was.
  const loadAtStart = os.loadavg().map((value) => Math.round(value * 100) / 100);
  const database = await openDatabase();
  const results: Array<Record<string, unknown>> = [];
  const show = (entry: { label: string; medianMs: number; p95Ms: number }) => {
    printStat(entry);
    results.push(entry);
  };
  try {
    const orm = await createOrm(database.url, logger);
    const pool = createPool(database.url, logger, 8);
    process.stdout.write('migrating… ');
    await migrate({ orm, pool }, logger);
    console.log('done');
    const loadStarted = Date.now();
    await load(database.url);
    const loadSeconds = Math.round((Date.now() - loadStarted) / 100) / 10;
    console.log(`loaded in ${loadSeconds} s\n`);

    const service = () => new MetricsService(orm.em.fork(), systemClock);
    results.push(await measure('metrics(LAST_HOUR), all applications (service)', () => service().metrics(MetricsWindow.LAST_HOUR, {})));
    results.push(
      await measure('metrics(LAST_24_HOURS), all applications (service)', () => service().metrics(MetricsWindow.LAST_24_HOURS, {})),
    );
    results.push(
      await measure('metrics(LAST_24_HOURS), one application (service)', () =>
        service().metrics(MetricsWindow.LAST_24_HOURS, { applicationId: 'app_bench_1' }),
      ),
    );
    results.push(
      await measure('metrics(LAST_7_DAYS), one endpoint (service)', () =>
        service().metrics(MetricsWindow.LAST_7_DAYS, { endpointId: 'ep_bench_007' }),
      ),
    );
    const apiKey = (await new ApiKeyService(orm.em.fork()).create({ name: 'metrics benchmark' })).key;
    await orm.close(true);
    await pool.end();

    // Herald in its own process, as a browser meets it: nothing of the benchmark (or of the browser's
    // driver) shares its event loop.
    const herald = await startHeraldProcess({
      databaseUrl: database.url,
      port: await freePort(),
      topology: { kind: 'split', workers: 0 },
      logLevel: 'warn',
    });
    try {
      const graphql = async (query: string, variables: Record<string, unknown> = {}) => {
        const response = await fetch(`${herald.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
          body: JSON.stringify({ query, variables }),
        });
        const body = (await response.json()) as { errors?: unknown[] };
        if (body.errors) throw new Error(JSON.stringify(body.errors));
        return body;
      };
      const metricsQuery = `query($window: MetricsWindow) { metrics(window: $window) { total successRate latency { p50Ms p95Ms p99Ms }
        throughput { at perMinute successRate p50Ms p95Ms } queue { pending scheduled oldestPendingAgeSeconds }
        endpoints { endpointId state successRate consecutiveFailures lastError } } }`;
      results.push(await measure('GraphQL metrics(LAST_24_HOURS) over HTTP', () => graphql(metricsQuery, { window: 'LAST_24_HOURS' })));
      results.push(await measure('GraphQL metrics(LAST_HOUR) over HTTP', () => graphql(metricsQuery, { window: 'LAST_HOUR' })));

      // The dashboard's files: those the page names, and the lazily loaded ones its first script names.
      const pageAssets = async (html: string) => {
        const named = (text: string) =>
          [...text.matchAll(/["'/](assets\/[\w.-]+\.(?:js|css))["']/g)].map((match) => `/dashboard/${match[1]}`);
        const first = [...new Set(named(html))];
        if (first.length === 0) throw new Error('the dashboard page references no assets: is it built?');
        const texts = await Promise.all(first.map(async (asset) => (await fetch(`${herald.url}${asset}`)).text()));
        return { first, lazy: [...new Set(texts.flatMap(named))].filter((asset) => !first.includes(asset)) };
      };
      const assets = await pageAssets(await (await fetch(`${herald.url}/`)).text());
      const download = (list: string[]) => Promise.all(list.map(async (asset) => (await fetch(`${herald.url}${asset}`)).arrayBuffer()));
      const applicationsQuery = 'query { applications(page: { first: 100 }) { nodes { id name } } }';
      const endpointsQuery = 'query { endpoints(page: { first: 100 }) { nodes { id url eventTypes enabled disabledReason } } }';
      const deadLettersQuery =
        'query { deadLetters(page: { first: 100 }) { nodes { id eventId endpointId eventType attemptCount lastError createdAt } } }';
      // Every request the page makes, in the order the page made them until 2026-11-30: HTML, its
      // scripts and styles, sign-in (applications), then metrics, endpoints and dead letters together.
      // Kept as it was, so its figures compare with the earlier runs.
      const firstLoadRequests = async () => {
        await (await fetch(`${herald.url}/`)).text();
        await download([...assets.first, ...assets.lazy]);
        await graphql(applicationsQuery);
        await Promise.all([graphql(metricsQuery, { window: 'LAST_15_MINUTES' }), graphql(endpointsQuery), graphql(deadLettersQuery)]);
      };
      // The same requests in the order the page makes them now: the script inlined in the HTML asks for
      // the metrics, then for applications and endpoints, while the first module script loads, which
      // loads the rest; then dead letters.
      const firstLoadRequestsNow = async () => {
        await (await fetch(`${herald.url}/`)).text();
        await Promise.all([
          graphql(metricsQuery, { window: 'LAST_15_MINUTES' }).then(() =>
            Promise.all([graphql(applicationsQuery), graphql(endpointsQuery)]),
          ),
          download(assets.first).then(() => download(assets.lazy)),
        ]);
        await graphql(deadLettersQuery);
      };
      // What the first numbers on screen wait for: the page, then its inlined script's metrics request.
      const firstMetricsRequests = async () => {
        await (await fetch(`${herald.url}/`)).text();
        await graphql(metricsQuery, { window: 'LAST_15_MINUTES' });
      };
      results.push(await measure('dashboard first load, every request it makes (HTTP)', firstLoadRequests));
      results.push(await measure("dashboard first load, every request in the page's order (HTTP)", firstLoadRequestsNow));
      results.push(await measure('dashboard first load, page and first metrics (HTTP)', firstMetricsRequests));

      {
        const browser = await launchChromium();
        try {
          // A cold browser context each run: HTML, scripts and styles downloaded, sign-in, first metrics rendered.
          const firstLoad = async () => {
            const context = await browser.newContext();
            await context.addInitScript(`sessionStorage.setItem('herald.apiKey', ${JSON.stringify(apiKey)})`);
            const page = await context.newPage();
            // GraphQL requests by operation name (resource timing cannot tell them apart).
            const operations: Array<{
              name: string;
              startTime: number;
              timing: { requestStart: number; responseStart: number; responseEnd: number };
            }> = [];
            page.on('requestfinished', (request) => {
              if (!request.url().endsWith('/graphql') || request.method() !== 'POST') return;
              const query = (request.postDataJSON() as { query?: string } | null)?.query ?? '';
              const timing = request.timing();
              operations.push({ name: /^(?:query|mutation) (\w+)/.exec(query)?.[1] ?? 'anonymous', startTime: timing.startTime, timing });
            });
            await page.goto(`${herald.url}/`);
            await page.waitForSelector('#stats[data-total]');
            await page.waitForSelector('#endpoints tr');
            inPage.push(Number(await page.getAttribute('body', 'data-first-metrics-ms')));
            const { timeOrigin, ...timeline } = await page.evaluate<Timeline>(TIMELINE);
            for (const operation of operations) {
              const sent = operation.startTime - (timeOrigin ?? 0);
              timeline[`${operation.name}: sent`] = sent;
              timeline[`${operation.name}: first byte`] = sent + operation.timing.responseStart;
              timeline[`${operation.name}: end`] = sent + operation.timing.responseEnd;
            }
            timelines.push(timeline);
            await context.close();
          };
          // What this browser on this machine needs for any page at all: a page of one line served at once
          // from loopback, its only script inline, loaded in a cold context just before each dashboard
          // load, so both see the same load on the machine. No dashboard can show anything sooner.
          const reference = await serveBlankPage();
          const scriptRan: number[] = [];
          const painted: number[] = [];
          const blankLoad = async () => {
            const context = await browser.newContext();
            const blank = await context.newPage();
            await blank.goto(reference.url);
            await blank.waitForFunction('performance.getEntriesByName("first-contentful-paint").length > 0');
            scriptRan.push(Number(await blank.getAttribute('body', 'data-script-ms')));
            painted.push(Number(await blank.evaluate('performance.getEntriesByName("first-contentful-paint")[0].startTime')));
            await context.close();
          };
          const inPage: number[] = [];
          const timelines: Timeline[] = [];
          const wallClock: number[] = [];
          try {
            for (let run = 0; run <= 15; run += 1) {
              await blankLoad();
              wallClock.push(await time(firstLoad));
            }
          } finally {
            await reference.close();
          }
          // The first run of each warmed things up.
          const measured = (samples: number[]) => stats(samples.slice(1));
          show({ label: 'dashboard first load, wall clock incl. new browser context', ...measured(wallClock) });
          show({ label: 'dashboard first load, navigation start to first metrics shown', ...measured(inPage) });
          show({ label: 'blank page (reference), navigation start to its inline script', ...measured(scriptRan) });
          const dashboardPainted = timelines.map((timeline) => timeline['first-contentful-paint'] ?? Number.NaN);
          show({ label: 'dashboard first load, navigation start to first contentful paint', ...measured(dashboardPainted) });
          show({ label: 'blank page (reference), navigation start to first contentful paint', ...measured(painted) });
          const breakdown = medianTimeline(timelines.slice(1));
          console.log('  where the dashboard first load goes (median ms from navigation start):');
          for (const [name, value] of Object.entries(breakdown)) console.log(`    ${name.padEnd(54)} ${String(value).padStart(7)}`);
          results.push({ label: 'dashboard first load, timeline (median ms from navigation start)', ...breakdown });
        } finally {
          await browser.close();
        }
      }
    } finally {
      await herald.stop();
    }
    const report = {
      deliveries: DELIVERIES,
      endpoints: ENDPOINTS,
      applications: APPLICATIONS,
      loadSeconds,
      measuredAt: new Date().toISOString(),
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg().map((value) => Math.round(value * 100) / 100) },
      results,
    };
    await mkdir('bench/results', { recursive: true });
    await writeFile('bench/results/metrics.json', `${JSON.stringify(report, null, 2)}\n`);
    console.log('\nwritten to bench/results/metrics.json');
  } finally {
    await database.cleanup();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
