import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { loadConfig } from '../src/config';
import { createPool, migrate } from '../src/db/database';
import { freePort } from '../src/db/embedded-postgres';
import { load, openDatabase } from './lib/bulk-load';
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

async function main(): Promise<void> {
  // A shared machine's other work shows in every figure: the report says how busy it was.
  const loadAtStart = os.loadavg().map((value) => Math.round(value * 100) / 100);
  const database = await openDatabase(config.databaseUrl, logger);
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
    await load(database.url, { deliveries: DELIVERIES, endpoints: ENDPOINTS, applications: APPLICATIONS, chunk: CHUNK });
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
