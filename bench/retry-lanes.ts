import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort } from '../src/db/embedded-postgres';
import { monotonicMs } from './lib/clock';
import { BenchGraphqlClient } from './lib/graphql-client';
import { type HeraldTopology, resolveApiKey, startHerald } from './lib/herald-process';
import type { BenchReceiver } from './lib/receiver';
import { type ScenarioResult, type ScenarioSpec, runScenario } from './lib/scenario';
import { type ArrivalProcess, type Percentiles, percentiles } from './lib/stats';
import { round } from './lib/proc';

/**
 * `--only retry-lanes`: fresh first attempts' latency alone, then with RETRIES retries due at once (the issue's
 * must-show: p99 within 2x). Phase 1 publishes fresh events at `rate` to one endpoint. Then RETRIES events go to a
 * storm endpoint that fails every first attempt and answers retries after STORM_RETRY_DELAY_MS; their retries
 * (DELIVERY_RETRY_SCHEDULE=1h) are made due at once with graphile-worker's reschedule_jobs once PostgreSQL has settled
 * after that setup (see settleSeconds), and phase 2 publishes
 * fresh events at the same rate to another endpoint. Phase 2's figure counts the fresh events sent while retries
 * were still arriving (the storm), so a storm shorter than the phase does not dilute it.
 */
export const RETRIES = 10_000;
const STORM_RETRY_DELAY_MS = 50;
/** A quiet pause after the storm's setup, like the one before phase 1. */
const SETTLE_MS = 2000;

export interface RetryLanesResult {
  rate: number;
  steadySeconds: number;
  retries: number;
  workerConcurrency: number;
  retryConcurrencyShare: string;
  alone: Percentiles | null;
  /** Fresh first attempts sent while the storm's retries were arriving. */
  duringStorm: Percentiles | null;
  /** Phase 2's whole steady window, storm or not. */
  phase2: Percentiles | null;
  p50Ratio: number | null;
  p99Ratio: number | null;
  /** From the retries made due to the last one received. */
  stormSeconds: number;
  /** From the setup's last failed first attempt to the retries made due: autovacuum done, then SETTLE_MS. */
  settleSeconds: number;
  /** The most retries the storm receiver answered at once. */
  maxRetriesInFlight: number;
  /** Herald's own split of a fresh first attempt (ms, p50/p99): created to attempt started, and the attempt's duration. */
  stages: Record<string, { p50: number; p99: number } | null>;
  scenarios: ScenarioResult[];
  void: boolean;
  voidReason: string | null;
}

/** Fails attempt 1 at once, answers retries after a pause; counts both. */
class StormReceiver {
  firstAttempts = 0;
  retries = 0;
  inFlight = 0;
  maxInFlight = 0;
  lastRetryAt = 0;
  private readonly server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const attempt = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { attempt?: number }).attempt ?? 1;
      if (attempt === 1) {
        this.firstAttempts++;
        res.writeHead(500).end('no');
        return;
      }
      this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
      setTimeout(() => {
        this.inFlight--;
        this.retries++;
        this.lastRetryAt = monotonicMs();
        res.writeHead(200).end('ok');
      }, STORM_RETRY_DELAY_MS);
    });
  });

  async start(): Promise<string> {
    this.server.maxRequestsPerSocket = 0;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/storm`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function benchRetryLanes(options: {
  databaseUrl: string;
  receiver: BenchReceiver;
  topology: HeraldTopology;
  logLevel: string;
  concurrency: number;
  rate: number;
  steadyMs: number;
  arrival: ArrivalProcess;
  log: (line: string) => void;
}): Promise<RetryLanesResult> {
  const share = process.env.RETRY_CONCURRENCY_SHARE ?? '0.5';
  const storm = new StormReceiver();
  const stormUrl = await storm.start();
  const port = await freePort();
  const apiKey = await resolveApiKey({ databaseUrl: options.databaseUrl, port, fromEnvironment: process.env.HERALD_BENCH_API_KEY });
  const cluster = await startHerald({
    databaseUrl: options.databaseUrl,
    port,
    topology: options.topology,
    logLevel: options.logLevel,
    // One retry, an hour later: the bench makes all of them due at once itself.
    env: { WORKER_CONCURRENCY: String(options.concurrency), RETRY_CONCURRENCY_SHARE: share, DELIVERY_RETRY_SCHEDULE: '1h' },
  });
  const client = new BenchGraphqlClient(cluster.url, apiKey.key, 64);
  const db = new pg.Client({ connectionString: options.databaseUrl });
  await db.connect();
  try {
    const application = async (name: string, url: string) => {
      const { createApplication } = await client.request<{ createApplication: { id: string } }>(
        'mutation($i: CreateApplicationInput!) { createApplication(input: $i) { id } }',
        { i: { name } },
      );
      const { registerEndpoint } = await client.request<{ registerEndpoint: { endpoint: { id: string } } }>(
        'mutation($i: RegisterEndpointInput!) { registerEndpoint(input: $i) { endpoint { id } } }',
        { i: { applicationId: createApplication.id, url, eventTypes: ['bench.*'] } },
      );
      return { applicationId: createApplication.id, endpointId: registerEndpoint.endpoint.id };
    };
    const spec = (id: string, warmupMs: number): ScenarioSpec => ({
      id,
      system: 'herald',
      fanout: 1,
      rate: options.rate,
      arrival: options.arrival,
      warmupMs,
      steadyMs: options.steadyMs,
      drainTimeoutMs: 120_000,
      payloadBytes: 1024,
    });
    const publisher = (applicationId: string) => ({
      monitors: [],
      publish: async (_seq: number, data: Record<string, unknown>) => {
        await client.request('mutation($i: PublishEventInput!) { publishEvent(input: $i) { id } }', {
          i: { applicationId, type: 'bench.event', data },
        });
        return { ok: true };
      },
    });

    const aloneSpec = spec('herald-retry-lanes-alone', 2000);
    const { applicationId: aloneApp } = await application('retry lanes: alone', options.receiver.url(aloneSpec.id, 0));
    options.log(`  ${aloneSpec.id}: ${options.rate} events/s, ${options.steadyMs / 1000} s steady, nothing else due`);
    const alone = await runScenario(aloneSpec, options.receiver, publisher(aloneApp));
    options.log(`    p50 ${alone.latencyMs?.p50 ?? '-'} ms p99 ${alone.latencyMs?.p99 ?? '-'} ms (${alone.latencyMs?.count ?? 0} events)`);

    // The storm: RETRIES failed first attempts, their retries waiting an hour.
    const { applicationId: stormApp } = await application('retry lanes: storm', stormUrl);
    for (let from = 0; from < RETRIES; from += 100) {
      await client.request('mutation($i: [PublishEventInput!]!) { publishEvents(inputs: $i) { id } }', {
        i: Array.from({ length: Math.min(100, RETRIES - from) }, (_, n) => ({
          applicationId: stormApp,
          type: 'bench.storm',
          data: { n: from + n },
        })),
      });
    }
    const waitingRetries = async () =>
      Number((await db.query<{ n: string }>(`select count(*) as n from graphile_worker.jobs where key like 'deliver:%'`)).rows[0]!.n);
    const setupDeadline = monotonicMs() + 300_000;
    while ((storm.firstAttempts < RETRIES || (await waitingRetries()) < RETRIES) && monotonicMs() < setupDeadline) await sleep(200);
    if (storm.firstAttempts < RETRIES) throw new Error(`only ${storm.firstAttempts} of ${RETRIES} first attempts failed in 5 minutes`);
    // Phase 2's endpoint is warmed as phase 1's was by its warm-up (its first deliveries are slower whatever else
    // runs), then pointed at phase 2's receiver URL: every fresh event from the retries' due time on is counted.
    const stormSpec = spec('herald-retry-lanes-storm', 1000);
    const warmSpec = { ...spec('herald-retry-lanes-fresh-warm-up', 2000), steadyMs: 1000 };
    const fresh = await application('retry lanes: fresh', options.receiver.url(warmSpec.id, 0));
    const freshApp = fresh.applicationId;
    await runScenario(warmSpec, options.receiver, publisher(freshApp));
    await client.request('mutation($id: ID!, $i: UpdateEndpointInput!) { updateEndpoint(id: $id, input: $i) { id } }', {
      id: fresh.endpointId,
      i: { url: options.receiver.url(stormSpec.id, 0) },
    });
    // An outage's failed first attempts come over its length, not in one burst: let PostgreSQL finish with the
    // setup's burst (autovacuum of the tables it wrote) before the retries fall due, as it had before phase 1.
    const settleStarted = monotonicMs();
    const autovacuumRunning = async () =>
      Number(
        (await db.query<{ n: string }>(`select count(*) as n from pg_stat_activity where backend_type = 'autovacuum worker'`)).rows[0]!.n,
      ) > 0;
    while ((await autovacuumRunning()) && monotonicMs() - settleStarted < 60_000) await sleep(200);
    await sleep(SETTLE_MS);
    const settleSeconds = round((monotonicMs() - settleStarted) / 1000, 1);

    options.log(
      `  ${stormSpec.id}: after ${settleSeconds} s to settle, ${RETRIES} retries made due at once, then ${options.rate} events/s of first attempts`,
    );
    const dueAt = monotonicMs();
    const { rows: due } = await db.query<{ at: Date }>(
      `select now() as at, graphile_worker.reschedule_jobs(array(select id from graphile_worker.jobs where key like 'deliver:%'), run_at := now())`,
    );
    const phase2Started = monotonicMs();
    const phase2 = await runScenario(stormSpec, options.receiver, publisher(freshApp));
    const stormDeadline = monotonicMs() + 300_000;
    while (storm.retries < RETRIES && monotonicMs() < stormDeadline) await sleep(200);
    const stormEnd = storm.lastRetryAt;
    const { deliveries } = await options.receiver.collect(stormSpec.id);
    const duringStorm = percentiles(
      deliveries.filter((d) => d.sentAt >= phase2Started && d.sentAt <= stormEnd).map((d) => d.receivedAt - d.sentAt),
    );
    const stages: RetryLanesResult['stages'] = {};
    // The storm's: its endpoint's deliveries made from the retries' due time on (not its warm-up's).
    for (const [phase, applicationId, since] of [
      ['alone', aloneApp, new Date(0)],
      ['storm', freshApp, due[0]!.at],
    ] as const) {
      const { rows } = await db.query<{ queued: number; attempt: number }>(
        `select extract(epoch from a.attempted_at - d.created_at) * 1000 as queued, a.duration_ms as attempt
           from deliveries d join events e on e.id = d.event_id join delivery_attempts a on a.delivery_id = d.id
          where e.application_id = $1 and d.created_at >= $2`,
        [applicationId, since],
      );
      for (const column of ['queued', 'attempt'] as const) {
        const p = percentiles(rows.map((row) => Number(row[column])));
        stages[`${phase}: ${column === 'queued' ? 'created to attempt started' : 'attempt (POST)'}`] = p
          ? { p50: round(p.p50, 1), p99: round(p.p99, 1) }
          : null;
      }
    }
    const rounded = (p: Percentiles | null) => (p ? { ...p, p50: round(p.p50, 2), p99: round(p.p99, 2) } : null);
    const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? round(a / b, 2) : null);
    const reasons = [alone, phase2].filter((s) => s.void).map((s) => `${s.spec.id}: ${s.voidReason}`);
    if (storm.retries < RETRIES) reasons.push(`only ${storm.retries} of ${RETRIES} retries arrived`);
    const result: RetryLanesResult = {
      rate: options.rate,
      steadySeconds: options.steadyMs / 1000,
      retries: RETRIES,
      workerConcurrency: options.concurrency,
      retryConcurrencyShare: share,
      alone: alone.latencyMs,
      duringStorm: rounded(duringStorm),
      phase2: phase2.latencyMs,
      p50Ratio: ratio(duringStorm?.p50, alone.latencyMs?.p50),
      p99Ratio: ratio(duringStorm?.p99, alone.latencyMs?.p99),
      stormSeconds: round((stormEnd - dueAt) / 1000, 2),
      settleSeconds,
      maxRetriesInFlight: storm.maxInFlight,
      stages,
      scenarios: [alone, phase2],
      void: reasons.length > 0,
      voidReason: reasons.length > 0 ? reasons.join('; ') : null,
    };
    options.log(
      `    storm: ${RETRIES} retries in ${result.stormSeconds} s, at most ${result.maxRetriesInFlight} at once; fresh first attempts sent ` +
        `during it (${duringStorm?.count ?? 0}): p50 ${result.duringStorm?.p50 ?? '-'} ms p99 ${result.duringStorm?.p99 ?? '-'} ms; ` +
        `whole phase p99 ${phase2.latencyMs?.p99 ?? '-'} ms`,
    );
    for (const [stage, p] of Object.entries(stages)) options.log(`    ${stage}: p50 ${p?.p50 ?? '-'} ms p99 ${p?.p99 ?? '-'} ms`);
    options.log(`    with the storm / alone: p50 x${result.p50Ratio ?? '-'}, p99 x${result.p99Ratio ?? '-'}`);
    return result;
  } finally {
    await db.end();
    await client.close();
    await cluster.stop();
    await storm.close();
  }
}
