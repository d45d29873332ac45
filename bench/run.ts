import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Pool } from 'undici';
import { freePort, startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { createLogger } from '../src/lib/logger';
import { type PostFloorResult, type WorkerFloorResult, measurePostFloor, measureWorkerFloor } from './lib/floor';
import { BenchGraphqlClient } from './lib/graphql-client';
import { startPostgresServer } from './lib/postgres-server';
import {
  type HeraldCluster,
  type HeraldTopology,
  type ManagedProcess,
  resolveApiKey,
  startHerald,
  startProcess,
  waitForHealthy,
} from './lib/herald-process';
import { ProcessGroupMonitor, childPids, pidsNamed, postmasterPid, round, sampleProcess } from './lib/proc';
import { CostMeter, type CostSources, type PerDeliveryCosts } from './lib/costs';
import { type PublishCapacityResult, measurePublishCapacity } from './lib/publish-capacity';
import { BenchReceiver } from './lib/receiver';
import { type ScenarioResult, type ScenarioSpec, type SystemUnderTest, runScenario } from './lib/scenario';
import { type RetryLanesResult, benchRetryLanes } from './retry-lanes';
import type { ArrivalProcess } from './lib/stats';

type Mode = 'full' | 'quick' | 'smoke';

interface Options {
  mode: Mode;
  arrival: ArrivalProcess;
  topology: HeraldTopology;
  baseline: boolean;
  floor: boolean;
  publish: boolean;
  out: string | null;
  latencyRate: number;
  maxRate: number;
  fanout10Rate: number;
  steadySeconds: number | null;
  /** Scenario ids to run (f1-latency, f1-max, f10); empty: all of the mode's. */
  only: string[];
  heraldLogLevel: string;
  concurrency: number;
  /** A folder with `initdb` and `postgres` to run the bench's PostgreSQL from instead of the embedded one. */
  postgresBin: string | null;
  /** Another built checkout of Herald to run the same scenarios against, in the same run. */
  compare: string | null;
  /** Attribute each scenario's WAL to tables and their indexes (pg_walinspect). */
  walByTable: boolean;
}

const USAGE = `npm run bench -- [options]

  --quick                 a short run (under a minute): every scenario for a few seconds, lower rates
  --smoke                 a few seconds against Herald only (used by the tests)
  --arrival fixed|poisson arrival process of the open-loop generator (default poisson)
  --workers N             run herald api + N herald worker processes (default: one herald start)
  --no-baseline           skip the express + Bull + axios baseline
  --no-floor              skip the machine-floor measurements
  --no-publish            skip the publish capacity measurement (herald api alone, closed loop)
  --latency-rate N        events/s offered in the latency scenario (default 500; quick 200)
  --max-rate N            events/s offered in the fan-out 1 throughput scenario (full run only; default 2500)
  --fanout10-rate N       events/s offered in the fan-out 10 scenario (default 400; quick 40)
  --steady S              seconds of steady phase for every scenario (default 60 for latency, 20 for throughput)
  --only IDS              run only these scenarios, comma-separated: f1-latency, f1-max, f10 (f1-max in full runs);
                          retry-lanes (only when named): fresh first attempts at 100 events/s (quick 50) alone, then
                          with 10,000 retries due at once; p50/p99 of both and the ratio (--steady S, default 20)
  --out FILE              where to write the JSON (default bench/results/, quick and smoke runs in bench/results/tmp/)
  --postgres-bin DIR      run the bench's PostgreSQL from DIR/initdb and DIR/postgres (same settings, temporary data
                          directory) instead of the embedded one, whose npm binary is built -Os; for example Debian's
                          -O2 build: --postgres-bin /usr/lib/postgresql/15/bin
  --wal-by-table          also attribute each scenario's WAL to tables and their indexes, per delivery (pg_walinspect;
                          a replication slot holds the scenario's WAL until it is read)
  --compare DIR           also run the scenarios against the Herald built in DIR (another checkout, after npm install
                          and npm run build), right after this one's, and give this one's figures over its

Environment: HERALD_BENCH_API_KEY (sent as Authorization: Bearer), HERALD_BENCH_DATABASE_URL (an admin URL of a
PostgreSQL to use instead of the embedded one), HERALD_BENCH_POSTGRES_BIN (as --postgres-bin),
HERALD_BENCH_LOG_LEVEL (Herald's LOG_LEVEL, default warn),
WORKER_CONCURRENCY (Herald's, also given to the baseline; default 128, Herald's own default).`;

function parseOptions(argv: string[]): Options {
  const options: Options = {
    mode: 'full',
    arrival: 'poisson',
    topology: { kind: 'start' },
    baseline: true,
    floor: true,
    publish: true,
    out: null,
    latencyRate: 0,
    maxRate: 0,
    fanout10Rate: 0,
    steadySeconds: null,
    only: [],
    heraldLogLevel: process.env.HERALD_BENCH_LOG_LEVEL ?? 'warn',
    concurrency: Number(process.env.WORKER_CONCURRENCY ?? 128),
    postgresBin: process.env.HERALD_BENCH_POSTGRES_BIN ? path.resolve(process.env.HERALD_BENCH_POSTGRES_BIN) : null,
    compare: null,
    walByTable: false,
  };
  const value = (i: number) => {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value\n\n${USAGE}`);
    return v;
  };
  const positive = (i: number) => {
    const n = Number(value(i));
    if (!(n > 0)) throw new Error(`${argv[i]} needs a positive number, got "${argv[i + 1]}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--quick') options.mode = 'quick';
    else if (arg === '--smoke') options.mode = 'smoke';
    else if (arg === '--no-baseline') options.baseline = false;
    else if (arg === '--no-floor') options.floor = false;
    else if (arg === '--no-publish') options.publish = false;
    else if (arg === '--arrival') {
      const v = value(i++);
      if (v !== 'fixed' && v !== 'poisson') throw new Error(`--arrival is fixed or poisson, not "${v}"`);
      options.arrival = v;
    } else if (arg === '--workers') options.topology = { kind: 'split', workers: Math.round(positive(i++)) };
    else if (arg === '--latency-rate') options.latencyRate = positive(i++);
    else if (arg === '--max-rate') options.maxRate = positive(i++);
    else if (arg === '--fanout10-rate') options.fanout10Rate = positive(i++);
    else if (arg === '--steady') options.steadySeconds = positive(i++);
    else if (arg === '--only') options.only = value(i++).split(',');
    else if (arg === '--out') options.out = path.resolve(value(i++));
    else if (arg === '--postgres-bin') options.postgresBin = path.resolve(value(i++));
    else if (arg === '--compare') options.compare = path.resolve(value(i++));
    else if (arg === '--wal-by-table') options.walByTable = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`Unknown option "${arg}"\n\n${USAGE}`);
  }
  if (options.postgresBin && process.env.HERALD_BENCH_DATABASE_URL) {
    throw new Error('--postgres-bin (or HERALD_BENCH_POSTGRES_BIN) and HERALD_BENCH_DATABASE_URL both choose the PostgreSQL: set one');
  }
  if (options.mode === 'smoke') {
    options.baseline = false;
    options.floor = false;
  }
  const defaults = { full: [500, 2500, 400], quick: [200, 0, 40], smoke: [40, 0, 0] }[options.mode];
  options.latencyRate ||= defaults[0]!;
  options.maxRate ||= defaults[1]!;
  options.fanout10Rate ||= defaults[2]!;
  return options;
}

/** The scenarios one system runs, in order. */
/** `label` prefixes the scenarios' ids (the receivers' paths): the system's name, or a compared build's. */
function plan(options: Options, system: 'herald' | 'baseline', label: string = system): ScenarioSpec[] {
  const base = { system, arrival: options.arrival, payloadBytes: 1024 };
  const steady = (full: number, quick: number, smoke: number) => (options.steadySeconds ?? { full, quick, smoke }[options.mode]) * 1000;
  const warmupMs = { full: 5000, quick: 1000, smoke: 500 }[options.mode];
  const drainTimeoutMs = { full: 300_000, quick: 15_000, smoke: 20_000 }[options.mode];
  const common = { ...base, warmupMs, drainTimeoutMs };
  if (options.mode === 'smoke') {
    return [{ ...common, id: `${label}-smoke`, fanout: 2, rate: options.latencyRate, steadyMs: steady(0, 0, 2) }];
  }
  const all = [
    { ...common, id: `${label}-f1-latency`, fanout: 1, rate: options.latencyRate, steadyMs: steady(60, 3, 0) },
    ...(options.mode === 'full'
      ? [{ ...common, id: `${label}-f1-max`, fanout: 1, rate: options.maxRate, steadyMs: steady(20, 5, 0) }]
      : []),
    { ...common, id: `${label}-f10`, fanout: 10, rate: options.fanout10Rate, steadyMs: steady(20, 2, 0) },
  ];
  return options.only.length === 0 ? all : all.filter((spec) => options.only.includes(spec.id.slice(label.length + 1)));
}

async function redisReachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * A fixed CPU-bound loop (2e7 additions; about 20 ms on an idle modern core). On a shared or overcommitted
 * machine it shows how much CPU this run actually got, so figures from different runs can be compared.
 */
function calibrate(): { loopWallMs: number; loopCpuMs: number } {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < 2e7; i++) sum += i;
  const used = process.cpuUsage(cpu);
  if (sum < 0) console.log(sum);
  return { loopWallMs: round(Number(process.hrtime.bigint() - started) / 1e6, 1), loopCpuMs: round((used.user + used.system) / 1000, 1) };
}

function machine() {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  return {
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    cpus: os.availableParallelism(),
    memoryTotalGiB: round(os.totalmem() / 2 ** 30, 1),
    memoryFreeGiB: round(os.freemem() / 2 ** 30, 1),
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
    loadAverageAtStart: os.loadavg().map((n) => round(n, 2)),
    calibrationAtStart: calibrate(),
  };
}

async function recreateDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

type PostgresSource = 'embedded' | 'postgres-bin' | 'url';

interface PostgresInfo {
  source: PostgresSource;
  /** `select version()`. */
  version: string | null;
  /** The compiler flags of the server's build (the pg_config view; null where the role may not read it). */
  cflags: string | null;
}

/**
 * What the server reports about itself: its build decides much of its CPU per delivery (the embedded npm
 * binary is built -Os), and the data directory finds its processes for the CPU figures. Each is null
 * when it cannot be read here.
 */
async function inspectPostgres(adminUrl: string): Promise<{ version: string | null; cflags: string | null; dataDir: string | null }> {
  const client = new pg.Client({ connectionString: adminUrl });
  const setting = async (sql: string) => {
    try {
      return (await client.query<{ setting: string }>(sql)).rows[0]?.setting ?? null;
    } catch {
      return null;
    }
  };
  try {
    await client.connect();
    return {
      version: await setting('select version() as setting'),
      cflags: await setting(`select setting from pg_config where name = 'CFLAGS'`),
      dataDir: await setting(`select setting from pg_settings where name = 'data_directory'`),
    };
  } catch {
    return { version: null, cflags: null, dataDir: null };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** "15.18 (CFLAGS -Os)": the version number and the optimisation flag that wins (gcc takes the last -O). */
function describeBuild(info: PostgresInfo): string {
  const version = info.version ? (/^PostgreSQL (\S+)/.exec(info.version)?.[1] ?? info.version) : 'unknown version';
  if (info.cflags === null) return `${version} (CFLAGS not readable)`;
  const optimisation = [...info.cflags.matchAll(/(?:^|\s)(-O\S*)/g)].pop()?.[1];
  return `${version} (CFLAGS ${optimisation ?? 'without -O'})`;
}

/** The bench's own PostgreSQL, or none when HERALD_BENCH_DATABASE_URL names one. */
async function startPostgres(
  options: Options,
): Promise<{ source: PostgresSource; server: { adminUrl: string; port: number; dataDir: string; stop(): Promise<void> } | null }> {
  if (options.postgresBin) return { source: 'postgres-bin', server: await startPostgresServer(options.postgresBin) };
  if (process.env.HERALD_BENCH_DATABASE_URL) return { source: 'url', server: null };
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-bench-pg-'));
  const removeDataDir = () => rm(dataDir, { recursive: true, force: true });
  try {
    const logger = createLogger({ level: 'warn', pretty: false, name: 'bench-postgres' });
    // Durable commits (fsync on), as `herald start` runs its embedded PostgreSQL.
    const embedded = await startEmbeddedPostgres({ dataDir, logger, durable: true });
    const stop = async () => {
      await embedded.stop();
      await removeDataDir();
    };
    return { source: 'embedded', server: { adminUrl: embedded.adminUrl, port: embedded.port, dataDir, stop } };
  } catch (error) {
    await removeDataDir();
    throw error;
  }
}

interface SystemReport {
  system: 'herald' | 'baseline';
  /** What its scenarios' ids start with: the system, or `herald-<commit>` for a compared build. */
  label: string;
  topology?: string;
  idleRssBytes: Record<string, number>;
  lifetimePeakRssBytes: Record<string, number>;
  scenarios: ScenarioResult[];
}

/** Idle RSS (2 s after it answers) of a `herald start` whose worker shares the API's event loop. */
async function idleRssOfSingleLoopStart(databaseUrl: string, port: number, options: Options, bin?: string): Promise<number> {
  const cluster = await startHerald({
    bin,
    databaseUrl,
    port,
    topology: { kind: 'start' },
    logLevel: options.heraldLogLevel,
    env: { WORKER_CONCURRENCY: String(options.concurrency), WORKER_THREAD: 'false' },
  });
  try {
    await sleep(2000);
    return sampleProcess(cluster.processes[0]!.child.pid!)?.rssBytes ?? 0;
  } finally {
    await cluster.stop();
  }
}

interface BenchContext {
  adminUrl: string;
  receiver: BenchReceiver;
  /** The postmaster and its live children, when readable here. */
  postgresTree: CostSources['postgres'];
  log: (line: string) => void;
  walByTable: boolean;
}

/** Herald as built here, or another build (`--compare`). */
interface HeraldBuild {
  label: string;
  bin?: string;
}

const THIS_BUILD: HeraldBuild = { label: 'herald' };

/** A line of a build's figures: a compared build's carry its label. */
function ofBuild(label: string, text: string): string {
  return label === THIS_BUILD.label ? text : `${label}: ${text}`;
}

async function benchHerald(
  options: Options,
  context: BenchContext,
  build: HeraldBuild = THIS_BUILD,
): Promise<SystemReport & { apiKeySource: string }> {
  const databaseUrl = await recreateDatabase(context.adminUrl, 'herald_bench');
  const port = await freePort();
  const { bin } = build;
  const apiKey = await resolveApiKey({ databaseUrl, port, fromEnvironment: process.env.HERALD_BENCH_API_KEY, bin });
  context.log(`Herald: API key ${apiKey.key ? `from ${apiKey.source}` : 'none (none configured)'}`);
  // `herald start` runs its worker on a thread by default; its idle memory with one event loop is measured too, in
  // full runs (one more start would take a quick run past its minute).
  const singleLoopIdleRss =
    options.topology.kind === 'start' && options.mode === 'full' ? await idleRssOfSingleLoopStart(databaseUrl, port, options, bin) : null;
  const cluster = await startHerald({
    bin,
    databaseUrl,
    port,
    topology: options.topology,
    logLevel: options.heraldLogLevel,
    env: { WORKER_CONCURRENCY: String(options.concurrency) },
  });
  const client = new BenchGraphqlClient(cluster.url, apiKey.key, 128);
  const report: SystemReport & { apiKeySource: string } = {
    system: 'herald',
    label: build.label,
    topology: options.topology.kind === 'start' ? 'herald start' : `herald api + ${options.topology.workers} herald worker`,
    apiKeySource: apiKey.source,
    idleRssBytes: {},
    lifetimePeakRssBytes: {},
    scenarios: [],
  };
  try {
    await sleep(2000);
    for (const member of cluster.processes) report.idleRssBytes[member.name] = sampleProcess(member.child.pid!)?.rssBytes ?? 0;
    if (singleLoopIdleRss !== null) report.idleRssBytes['herald start, WORKER_THREAD=false'] = singleLoopIdleRss;
    const monitors = monitorsFor(cluster.processes, context.postgresTree);
    const costs = heraldCostMeter(cluster, context, databaseUrl);
    for (const spec of plan(options, 'herald', build.label)) {
      const { createApplication } = await client.request<{ createApplication: { id: string } }>(
        'mutation($i: CreateApplicationInput!) { createApplication(input: $i) { id } }',
        { i: { name: `bench ${spec.id}` } },
      );
      for (let endpoint = 0; endpoint < spec.fanout; endpoint++) {
        await client.request('mutation($i: RegisterEndpointInput!) { registerEndpoint(input: $i) { endpoint { id } } }', {
          i: { applicationId: createApplication.id, url: context.receiver.url(spec.id, endpoint), eventTypes: ['bench.*'] },
        });
      }
      const system: SystemUnderTest = {
        monitors,
        costs,
        publish: async (_seq, data) => {
          await client.request('mutation($i: PublishEventInput!) { publishEvent(input: $i) { id } }', {
            i: { applicationId: createApplication.id, type: 'bench.event', data },
          });
          return { ok: true };
        },
      };
      const result = await runLogged(spec, system, context);
      report.scenarios.push(result);
      // What Herald said is the first thing to read about a run that did not balance.
      if (result.void)
        for (const member of cluster.processes) context.log(`    ${member.name}, last output:\n${member.output.slice(-40).join('\n')}`);
    }
    for (const member of cluster.processes) report.lifetimePeakRssBytes[member.name] = sampleProcess(member.child.pid!)?.peakRssBytes ?? 0;
  } finally {
    await client.close();
    await cluster.stop();
  }
  return report;
}

/** A publish capacity figure, with what each stored event cost (`deliveries` counts events here) and its build. */
type PublishFigure = PublishCapacityResult & { build: string; costs: PerDeliveryCosts };

/**
 * How fast the API takes events when nothing else runs: `herald api` alone on a fresh database (no worker,
 * so deliveries queue up and no delivery work competes), one endpoint matching every event, closed loop,
 * one event per publishEvent call and 100 per publishEvents call.
 */
async function benchPublishCapacity(options: Options, context: BenchContext, build: HeraldBuild = THIS_BUILD): Promise<PublishFigure[]> {
  const databaseUrl = await recreateDatabase(context.adminUrl, 'publish_bench');
  const port = await freePort();
  const { bin } = build;
  const apiKey = await resolveApiKey({ databaseUrl, port, fromEnvironment: process.env.HERALD_BENCH_API_KEY, bin });
  const cluster = await startHerald({ bin, databaseUrl, port, topology: { kind: 'split', workers: 0 }, logLevel: options.heraldLogLevel });
  const client = new BenchGraphqlClient(cluster.url, apiKey.key, 128);
  const meter = heraldCostMeter(cluster, context, databaseUrl);
  const results: PublishFigure[] = [];
  try {
    const seconds = { full: 10, quick: 2, smoke: 1 }[options.mode];
    for (const { eventsPerCall, concurrency } of [
      { eventsPerCall: 1, concurrency: 64 },
      { eventsPerCall: 100, concurrency: 8 },
    ]) {
      const { createApplication } = await client.request<{ createApplication: { id: string } }>(
        'mutation($i: CreateApplicationInput!) { createApplication(input: $i) { id } }',
        { i: { name: `bench publish ${eventsPerCall}` } },
      );
      await client.request('mutation($i: RegisterEndpointInput!) { registerEndpoint(input: $i) { endpoint { id } } }', {
        i: { applicationId: createApplication.id, url: context.receiver.url('publish-capacity', 0), eventTypes: ['bench.*'] },
      });
      await meter.begin();
      const result = await measurePublishCapacity({
        client,
        databaseUrl,
        applicationId: createApplication.id,
        eventType: 'bench.event',
        eventsPerCall,
        concurrency,
        seconds,
        payloadBytes: 1024,
      });
      const costs = await meter.end(result.stored);
      context.log(
        `  ${ofBuild(build.label, `${result.mutation} (${eventsPerCall} per call, ${concurrency} clients)`)}: ${result.eventsPerSecond} events/s, ${result.callsPerSecond} calls/s, ` +
          `p50 ${round(result.latencyMs?.p50 ?? 0, 1)} ms, stored ${result.stored}/${result.acknowledged}${result.balanced ? '' : ` VOID (${result.errors} errors: ${result.firstError ?? 'count differs'})`}`,
      );
      results.push({ ...result, build: build.label, costs });
    }
  } finally {
    await client.close();
    await cluster.stop();
  }
  return results;
}

/** What a Herald cluster's work costs: its processes, and the bench's PostgreSQL with `databaseUrl`'s counters. */
function heraldCostMeter(cluster: HeraldCluster, context: BenchContext, databaseUrl: string): CostMeter {
  return new CostMeter({
    systemPids: () => cluster.processes.map((member) => member.child.pid!),
    postgres: context.postgresTree,
    databaseUrl,
    walByTable: context.walByTable,
  });
}

async function benchBaseline(options: Options, context: BenchContext): Promise<SystemReport> {
  const databaseUrl = await recreateDatabase(context.adminUrl, 'baseline_bench');
  const port = await freePort();
  const baseline: ManagedProcess = startProcess('baseline (express+bull+axios)', [path.join(__dirname, 'baseline/main.js')], {
    BASELINE_PORT: String(port),
    BASELINE_DATABASE_URL: databaseUrl,
    BASELINE_QUEUE: `herald-bench-baseline-${process.pid}`,
    BASELINE_CONCURRENCY: String(options.concurrency),
  });
  const url = `http://127.0.0.1:${port}`;
  const http = new Pool(url, { connections: 128, keepAliveTimeout: 60_000 });
  const post = async (pathName: string, body: unknown) => {
    const response = await http.request({
      method: 'POST',
      path: pathName,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.body.text();
    if (response.statusCode >= 300) throw new Error(`baseline ${pathName}: HTTP ${response.statusCode} ${text.slice(0, 120)}`);
    return text;
  };
  const report: SystemReport = { system: 'baseline', label: 'baseline', idleRssBytes: {}, lifetimePeakRssBytes: {}, scenarios: [] };
  try {
    await waitForHealthy(url, baseline);
    await sleep(2000);
    report.idleRssBytes[baseline.name] = sampleProcess(baseline.child.pid!)?.rssBytes ?? 0;
    const monitors = monitorsFor([baseline], context.postgresTree);
    const costs = new CostMeter({
      systemPids: () => [baseline.child.pid!],
      postgres: context.postgresTree,
      otherPids: () => pidsNamed('redis-server'),
      databaseUrl,
      walByTable: context.walByTable,
    });
    for (const spec of plan(options, 'baseline')) {
      const eventType = `bench.${spec.id}`;
      for (let endpoint = 0; endpoint < spec.fanout; endpoint++) {
        await post('/api/webhooks/subscribe', { url: context.receiver.url(spec.id, endpoint), events: [eventType] });
      }
      const system: SystemUnderTest = {
        monitors,
        costs,
        publish: async (_seq, data) => {
          await post('/api/events', { type: eventType, data });
          return { ok: true };
        },
      };
      report.scenarios.push(await runLogged(spec, system, context));
    }
    report.lifetimePeakRssBytes[baseline.name] = sampleProcess(baseline.child.pid!)?.peakRssBytes ?? 0;
  } finally {
    await http.close();
    await baseline.stop();
  }
  return report;
}

function monitorsFor(processes: ManagedProcess[], postgres: BenchContext['postgresTree']): ProcessGroupMonitor[] {
  return [
    ...processes.map((member) => new ProcessGroupMonitor(member.name, () => [member.child.pid!])),
    new ProcessGroupMonitor('postgresql (all backends)', () => (postgres ? [postgres.postmaster, ...postgres.children()] : [])),
    new ProcessGroupMonitor('bench harness (load generator + receivers)', () => [process.pid]),
  ];
}

/** Runs one scenario against Herald or the baseline, logging what it offers and what it measured. */
async function runLogged(
  spec: ScenarioSpec,
  system: SystemUnderTest,
  context: { receiver: BenchReceiver; log: (line: string) => void },
): Promise<ScenarioResult> {
  context.log(`  ${spec.id}: fan-out ${spec.fanout}, ${spec.rate} events/s offered (${spec.arrival}), ${spec.steadyMs / 1000} s steady`);
  const result = await runScenario(spec, context.receiver, system);
  context.log(`    ${summarise(result)}`);
  return result;
}

function summarise(result: ScenarioResult): string {
  const l = result.latencyMs;
  return (
    `${result.deliveriesPerSecond} deliveries/s, ${result.publishPerSecond} publish/s, ` +
    `p50 ${l?.p50 ?? '-'} ms p99 ${l?.p99 ?? '-'} ms, ledger ${result.ledger.received}/${result.ledger.expected} ` +
    `(missing ${result.ledger.missing}, duplicates ${result.ledger.duplicates})${result.void ? ` VOID: ${result.voidReason}` : ''}`
  );
}

const mb = (bytes: number) => `${round(bytes / 2 ** 20, 1)}`;

function table(headers: string[], rows: Array<Array<string | number>>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: Array<string | number>) => '| ' + cells.map((c, i) => String(c).padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

function render(results: BenchResults): string {
  const scenarios = [...results.herald.scenarios, ...(results.compared?.scenarios ?? []), ...(results.baseline?.scenarios ?? [])];
  const parts: string[] = [];
  parts.push(
    table(
      [
        'scenario',
        'fan-out',
        'offered ev/s',
        'deliveries/s',
        'publish/s',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'published',
        'received',
        'missing',
        'dup',
        'drain s',
        'ledger',
      ],
      scenarios.map((s) => [
        s.spec.id,
        s.spec.fanout,
        s.offeredEventsPerSecond,
        s.deliveriesPerSecond,
        s.publishPerSecond,
        s.latencyMs?.p50 ?? '-',
        s.latencyMs?.p95 ?? '-',
        s.latencyMs?.p99 ?? '-',
        s.latencyMs?.max ?? '-',
        s.ledger.publishedEvents,
        s.ledger.received,
        s.ledger.missing,
        s.ledger.duplicates,
        s.drainSeconds,
        s.void ? 'VOID' : 'balanced',
      ]),
    ),
  );
  const processRows: Array<Array<string | number>> = [];
  for (const s of scenarios) {
    const seconds = s.spec.steadyMs / 1000;
    for (const p of s.processes) {
      processRows.push([
        s.spec.id,
        p.name,
        p.userSeconds,
        p.systemSeconds,
        `${round(((p.userSeconds + p.systemSeconds) / seconds) * 100, 0)}%`,
        mb(p.peakRssBytes),
        mb(p.peakPssBytes),
      ]);
    }
  }
  parts.push(table(['scenario (steady phase)', 'process', 'user s', 'system s', 'CPU', 'peak RSS MB', 'peak PSS MB'], processRows));
  const metered = scenarios.filter((s) => s.costs);
  if (metered.length > 0) {
    const ms = (value: number | null) => (value === null ? 'n/a' : value);
    parts.push(
      table(
        [
          'per delivery (whole scenario)',
          'deliveries',
          'stack CPU ms',
          'system CPU ms',
          'PostgreSQL CPU ms',
          'Redis CPU ms',
          'WAL bytes',
          'rows written',
          'transactions',
        ],
        metered.map((s) => {
          const c = s.costs!;
          return [
            s.spec.id,
            c.deliveries,
            ms(stackCpuMs(c)),
            c.systemCpuMs,
            ms(c.postgresCpuMs),
            s.spec.system === 'baseline' ? ms(c.otherStoresCpuMs) : '-',
            c.walBytes,
            c.rowsWritten,
            c.transactions,
          ];
        }),
      ),
    );
  }
  const writeRows: Array<Array<string | number>> = [];
  for (const s of metered) {
    const tables = Object.entries(s.costs!.rowsByTable).filter(([, w]) => w.inserted + w.updated + w.deleted >= 0.01);
    tables.sort(([, a], [, b]) => b.inserted + b.updated + b.deleted - (a.inserted + a.updated + a.deleted));
    for (const [name, w] of tables) writeRows.push([s.spec.id, name, w.inserted, `${w.updated} (${w.hotUpdated} HOT)`, w.deleted]);
  }
  if (writeRows.length > 0)
    parts.push(table(['rows written per delivery (whole scenario)', 'table', 'inserted', 'updated', 'deleted'], writeRows));
  const memoryRows: Array<Array<string | number>> = [];
  for (const report of [results.herald, results.compared, results.baseline]) {
    if (!report) continue;
    for (const name of Object.keys(report.idleRssBytes)) {
      const peak = report.lifetimePeakRssBytes[name];
      const label = report === results.compared ? ofBuild(report.label, name) : name;
      memoryRows.push([label, mb(report.idleRssBytes[name]!), peak === undefined ? 'not run under load' : mb(peak)]);
    }
  }
  const walRows: Array<Array<string | number>> = [];
  for (const s of metered) {
    const tables = Object.entries(s.costs!.walByTable ?? {}).filter(([, w]) => w.table + w.indexes >= 1);
    tables.sort(([, a], [, b]) => b.table + b.indexes - (a.table + a.indexes));
    for (const [name, w] of tables) walRows.push([s.spec.id, name, w.table + w.indexes, w.table, w.indexes]);
  }
  if (walRows.length > 0)
    parts.push(table(['WAL bytes per delivery (whole scenario)', 'table', 'all', 'its own pages', 'its indexes'], walRows));
  parts.push(table(['process', 'idle RSS MB', 'peak RSS MB (VmHWM, whole run)'], memoryRows));
  if (results.publish?.length) {
    parts.push(
      table(
        [
          'publish capacity (herald api alone)',
          'clients',
          'events/s',
          'calls/s',
          'call p50 ms',
          'call p99 ms',
          'stored / acknowledged',
          'stack CPU ms per event',
          'WAL bytes per event',
        ],
        results.publish.map((p) => [
          ofBuild(p.build, `${p.mutation}, ${p.eventsPerCall} per call`),
          p.concurrency,
          p.eventsPerSecond,
          p.callsPerSecond,
          round(p.latencyMs?.p50 ?? 0, 1),
          round(p.latencyMs?.p99 ?? 0, 1),
          `${p.stored} / ${p.acknowledged}${p.balanced ? '' : ' VOID'}`,
          stackCpuMs(p.costs) ?? 'n/a',
          p.costs.walBytes,
        ]),
      ),
    );
  }
  if (results.floor) {
    const rows: Array<Array<string | number>> = results.floor.worker.map((w) => [
      `graphile-worker no-op jobs (${w.variant})`,
      `${w.jobsPerSecond} jobs/s`,
      `${w.jobs} jobs`,
    ]);
    if (results.floor.post) {
      const p = results.floor.post;
      rows.push([
        `raw signed POST loop, undici, ${p.concurrency} concurrent`,
        `${p.requestsPerSecond} requests/s`,
        `p50 ${round(p.latencyMs?.p50 ?? 0, 2)} ms, ledger ${p.ledger.balanced ? 'balanced' : 'VOID'}`,
      ]);
    }
    parts.push(table(['machine floor', 'rate', 'note'], rows));
  }
  if (results.ratios.length > 0)
    parts.push(
      table(
        ['ratio', 'value'],
        results.ratios.map((r) => [r.name, r.value]),
      ),
    );
  return parts.join('\n\n');
}

interface BenchResults {
  mode: Mode;
  startedAt: string;
  finishedAt: string;
  machine: ReturnType<typeof machine> & { loadAverageAtEnd: number[]; calibrationAtEnd: ReturnType<typeof calibrate> };
  settings: Record<string, unknown>;
  postgres: PostgresInfo;
  herald: SystemReport & { apiKeySource: string };
  /** The same scenarios against another build (`--compare`). */
  compared: (SystemReport & { apiKeySource: string }) | null;
  baseline: SystemReport | null;
  baselineSkipped: string | null;
  floor: { worker: WorkerFloorResult[]; post: PostFloorResult | null } | null;
  publish: PublishFigure[] | null;
  retryLanes?: RetryLanesResult | null;
  ratios: Array<{ name: string; value: number | string }>;
  void: boolean;
}

function ratios(results: Omit<BenchResults, 'ratios' | 'void' | 'finishedAt'>): Array<{ name: string; value: number | string }> {
  const out: Array<{ name: string; value: number | string }> = [];
  const find = (report: SystemReport | null, suffix: string) => report?.scenarios.find((s) => s.spec.id.endsWith(suffix));
  const costRatio = (name: string, over: ScenarioResult | undefined, under: ScenarioResult | undefined) => {
    const pick: Array<[string, (c: PerDeliveryCosts) => number | null]> = [
      ['stack CPU per delivery', stackCpuMs],
      ['PostgreSQL CPU per delivery', (c) => c.postgresCpuMs],
      ['WAL per delivery', (c) => c.walBytes],
      ['rows written per delivery', (c) => c.rowsWritten],
    ];
    for (const [what, value] of pick) {
      const a = over?.costs ? value(over.costs) : null;
      const b = under?.costs ? value(under.costs) : null;
      if (a !== null && b !== null && b > 0) out.push({ name: `${what} ${name}`, value: round(a / b, 2) });
    }
  };
  for (const suffix of ['-f1-latency', '-f1-max', '-f10']) {
    const h = find(results.herald, suffix);
    const c = find(results.compared, suffix);
    if (h && c && c.deliveriesPerSecond > 0) {
      const name = `Herald / ${results.compared!.label} (${suffix.slice(1)})`;
      out.push({ name: `deliveries/s ${name}`, value: round(h.deliveriesPerSecond / c.deliveriesPerSecond, 2) });
      costRatio(name, h, c);
    }
    const b = find(results.baseline, suffix);
    costRatio(`Herald / baseline (${suffix.slice(1)})`, h, b);
    if (h && b && b.deliveriesPerSecond > 0)
      out.push({
        name: `deliveries/s Herald / baseline (${suffix.slice(1)})`,
        value: round(h.deliveriesPerSecond / b.deliveriesPerSecond, 2),
      });
    if (h?.latencyMs && b?.latencyMs && h.latencyMs.p99 > 0)
      out.push({
        name: `p99 baseline / Herald (${suffix.slice(1)}; > 1 means Herald is faster)`,
        value: round(b.latencyMs.p99 / h.latencyMs.p99, 2),
      });
  }
  for (const mutation of ['publishEvent', 'publishEvents']) {
    const figures = (build: string) => (results.publish ?? []).filter((p) => p.mutation === mutation && p.build === build);
    const ours = figures(THIS_BUILD.label);
    const theirs = figures(results.compared?.label ?? '');
    /** The mean of `value` over the figures; null when one has none. */
    const mean = (list: PublishFigure[], value: (p: PublishFigure) => number | null) => {
      const values = list.map(value);
      return values.some((v) => v === null) ? null : values.reduce((total: number, v) => total + v!, 0) / values.length;
    };
    if (ours.length > 0 && theirs.length > 0) {
      const name = `${mutation} Herald / ${theirs[0]!.build}`;
      for (const [what, value] of [
        ['events/s', (p: PublishFigure) => p.eventsPerSecond],
        ['stack CPU per event', (p: PublishFigure) => stackCpuMs(p.costs)],
      ] as const) {
        const a = mean(ours, value);
        const b = mean(theirs, value);
        if (a !== null && b !== null && b > 0) out.push({ name: `${name}, ${what}`, value: round(a / b, 2) });
      }
    }
  }
  const best = Math.max(0, ...results.herald.scenarios.map((s) => s.deliveriesPerSecond));
  const floorJobs = Math.max(0, ...(results.floor?.worker.map((w) => w.jobsPerSecond) ?? []));
  if (floorJobs > 0) out.push({ name: 'best Herald deliveries/s / graphile-worker no-op jobs/s', value: round(best / floorJobs, 3) });
  if (results.floor?.post)
    out.push({
      name: 'best Herald deliveries/s / raw signed POST loop requests/s',
      value: round(best / results.floor.post.requestsPerSecond, 3),
    });
  return out;
}

/** Herald's, or the baseline's, CPU per delivery with its stores' (PostgreSQL, and Redis for the baseline). */
function stackCpuMs(costs: PerDeliveryCosts): number | null {
  if (costs.postgresCpuMs === null || costs.otherStoresCpuMs === null) return null;
  return round(costs.systemCpuMs + costs.postgresCpuMs + costs.otherStoresCpuMs, 3);
}

/** Another checkout's build, labelled by its commit when it is a git checkout. */
function comparedBuild(dir: string): HeraldBuild {
  const bin = path.join(dir, 'dist/src/bin/herald.js');
  if (!existsSync(bin)) throw new Error(`--compare: no ${bin}; run npm install and npm run build in ${dir} first`);
  let label = path.basename(dir);
  try {
    label = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim() || label;
  } catch {
    // not a git checkout: its folder's name
  }
  return { label: `herald-${label.replace(/[^A-Za-z0-9_.-]/g, '_')}`, bin };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const info = machine();
  const log = (line: string) => console.log(line);
  log(
    `Herald benchmark (${options.mode}) on ${info.cpus} x ${info.cpuModel}, node ${info.node}, load average ${info.loadAverageAtStart.join(' ')}`,
  );

  const { source, server } = await startPostgres(options);
  // The finally below does not run when the harness is interrupted: stop the server and remove its data here.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping PostgreSQL`);
    void (server?.stop() ?? Promise.resolve()).finally(() => process.exit(128 + (os.constants.signals[signal] ?? 0)));
  };
  if (server) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const adminUrl = server?.adminUrl ?? process.env.HERALD_BENCH_DATABASE_URL!;
  const inspected = await inspectPostgres(adminUrl);
  const postgres: PostgresInfo = { source, version: inspected.version, cflags: inspected.cflags };
  const durable = 'durable commits (fsync on)';
  if (source === 'embedded') log(`PostgreSQL: embedded ${describeBuild(postgres)}, ${durable}, port ${server!.port}`);
  else if (source === 'postgres-bin')
    log(`PostgreSQL: ${options.postgresBin} ${describeBuild(postgres)}, ${durable}, port ${server!.port}`);
  else log(`PostgreSQL: HERALD_BENCH_DATABASE_URL ${describeBuild(postgres)}`);
  // An external server on this machine is measured too when its data directory is readable here.
  const postgresDir = server?.dataDir ?? inspected.dataDir;
  const pgMaster = postgresDir ? postmasterPid(postgresDir) : null;
  const postgresTree = pgMaster ? { postmaster: pgMaster, children: () => childPids(pgMaster) } : null;
  const receiver = await BenchReceiver.start().catch(async (error: unknown) => {
    await server?.stop();
    throw error;
  });
  const context: BenchContext = { adminUrl, receiver, postgresTree, log, walByTable: options.walByTable };
  try {
    log(
      `Herald (${options.topology.kind === 'start' ? 'herald start' : `herald api + ${options.topology.workers} worker`}, LOG_LEVEL=${options.heraldLogLevel}, WORKER_CONCURRENCY=${options.concurrency})`,
    );
    const herald = await benchHerald(options, context);
    const comparedWith = options.compare ? comparedBuild(options.compare) : null;
    let compared: (SystemReport & { apiKeySource: string }) | null = null;
    if (comparedWith) {
      log(`Herald built in ${options.compare} (${comparedWith.label}), the same scenarios`);
      compared = await benchHerald(options, context, comparedWith);
    }

    let retryLanes: RetryLanesResult | null = null;
    if (options.only.includes('retry-lanes')) {
      log('Retry lanes (fresh first attempts alone, then with 10,000 retries due at once)');
      retryLanes = await benchRetryLanes({
        databaseUrl: await recreateDatabase(adminUrl, 'retry_lanes_bench'),
        receiver,
        topology: options.topology,
        logLevel: options.heraldLogLevel,
        concurrency: options.concurrency,
        rate: options.mode === 'full' ? 100 : 50,
        steadyMs: (options.steadySeconds ?? 20) * 1000,
        arrival: options.arrival,
        log,
      });
    }

    let baseline: SystemReport | null = null;
    let baselineSkipped: string | null = null;
    if (!options.baseline) baselineSkipped = 'disabled (--no-baseline or --smoke)';
    else if (!(await redisReachable('127.0.0.1', 6379))) baselineSkipped = 'Redis is not reachable at 127.0.0.1:6379';
    if (baselineSkipped) log(`Baseline skipped: ${baselineSkipped}`);
    else {
      log(`Baseline (express + Bull + axios, concurrency ${options.concurrency})`);
      baseline = await benchBaseline(options, context);
    }

    let publish: PublishFigure[] | null = null;
    if (options.publish) {
      log('Publish capacity (herald api alone, closed loop)');
      publish = await benchPublishCapacity(options, context);
      // Publishing moves more than delivering from run to run: the compared build's figures are taken twice,
      // alternating with this build's.
      if (comparedWith) {
        publish.push(...(await benchPublishCapacity(options, context, comparedWith)));
        publish.push(...(await benchPublishCapacity(options, context)));
        publish.push(...(await benchPublishCapacity(options, context, comparedWith)));
      }
    }

    let floor: BenchResults['floor'] = null;
    if (options.floor) {
      log('Machine floor');
      const jobs = options.mode === 'full' ? 20_000 : 2000;
      const worker: WorkerFloorResult[] = [];
      for (const variant of ['default', 'localQueue+batched'] as const) {
        const databaseUrl = await recreateDatabase(adminUrl, 'floor_bench');
        worker.push(await measureWorkerFloor({ databaseUrl, jobs, concurrency: options.concurrency, variant }));
        log(`  graphile-worker no-op (${variant}): ${worker[worker.length - 1]!.jobsPerSecond} jobs/s`);
      }
      const post = await measurePostFloor({
        receiver,
        scenario: 'floor-post',
        seconds: options.mode === 'full' ? 10 : 2,
        concurrency: options.concurrency,
        payloadBytes: 1024,
      });
      log(`  raw signed POST loop: ${post.requestsPerSecond} requests/s`);
      floor = { worker, post };
    }

    const partial = {
      mode: options.mode,
      startedAt: startedAt.toISOString(),
      machine: { ...info, loadAverageAtEnd: os.loadavg().map((n) => round(n, 2)), calibrationAtEnd: calibrate() },
      settings: {
        arrival: options.arrival,
        topology: herald.topology,
        heraldLogLevel: options.heraldLogLevel,
        workerConcurrency: options.concurrency,
        payloadBytes: 1024,
        postgres: {
          embedded: 'embedded, durable (fsync on)',
          'postgres-bin': `postgres-bin ${options.postgresBin}, durable (fsync on)`,
          url: 'HERALD_BENCH_DATABASE_URL',
        }[source],
      },
      postgres,
      herald,
      compared,
      baseline,
      baselineSkipped,
      floor,
      publish,
      retryLanes,
    };
    const results: BenchResults = {
      ...partial,
      finishedAt: new Date().toISOString(),
      ratios: ratios(partial),
      void:
        [...herald.scenarios, ...(compared?.scenarios ?? []), ...(baseline?.scenarios ?? [])].some((s) => s.void) ||
        (floor?.post ? !floor.post.ledger.balanced : false) ||
        (publish ?? []).some((p) => !p.balanced) ||
        (retryLanes?.void ?? false),
    };
    log('');
    log(render(results));
    log(
      `\nload average at end: ${results.machine.loadAverageAtEnd.join(' ')}; CPU calibration loop at end: ${results.machine.calibrationAtEnd.loopWallMs} ms wall`,
    );
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const out =
      options.out ?? path.resolve(__dirname, '../../bench/results', options.mode === 'full' ? '' : 'tmp', `${stamp}-${options.mode}.json`);
    await mkdir(path.dirname(out), { recursive: true });
    await writeFile(out, JSON.stringify(results, null, 2) + '\n');
    log(`results: ${path.relative(process.cwd(), out)}`);
    if (results.void) log('THE RUN IS VOID: a ledger did not balance (see above).');
    return results.void ? 1 : 0;
  } finally {
    await receiver.close();
    await server?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('benchmark failed:', error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
