import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Client, createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { freePort, startEmbeddedPostgres } from '../src/db/embedded-postgres';
import { createLogger } from '../src/lib/logger';
import { monotonicMs } from './lib/clock';
import { BenchGraphqlClient } from './lib/graphql-client';
import { resolveApiKey, startHerald } from './lib/herald-process';
import { ProcessGroupMonitor, type ProcessUsage, childPids, postmasterPid, round } from './lib/proc';
import { percentiles } from './lib/stats';

/**
 * Subscription fan-out: N graphql-ws clients subscribe to `eventPublished` on a running `herald start`, and
 * events are published at a fixed rate through `publishEvents`. Every event carries its send time (the
 * harness's monotonic clock, which the clients share), so latency is publish-sent to message-received. The
 * ledger is exact: each client owes one message per event published. Events of the first `--warmup` seconds
 * are owed like the rest but left out of the rates, latencies and CPU figures (they time the JIT and the
 * connections' first use, not the steady state).
 *
 *   npm run bench:subscriptions -- [--clients 100] [--rate 200] [--seconds 15] [--warmup 2]
 */
const EVENT_TYPE = 'bench.fanout';
const SUBSCRIPTION = `subscription BenchFanout { eventPublished(type: "${EVENT_TYPE}") { id data } }`;
const PUBLISH = `mutation BenchPublish($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { id } }`;

function option(name: string, fallback: number, { zero = false } = {}): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? fallback : Number(process.argv[index + 1]);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) throw new Error(`--${name} must be a positive number`);
  return value;
}

async function main(): Promise<number> {
  const clients = option('clients', 100);
  const rate = option('rate', 200);
  const seconds = option('seconds', 15);
  const warmup = option('warmup', 2, { zero: true });
  const logger = createLogger({ level: 'warn', pretty: false, name: 'bench' });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-bench-subs-'));
  const embedded = await startEmbeddedPostgres({ dataDir, logger, durable: true });
  const admin = new pg.Client({ connectionString: embedded.adminUrl });
  await admin.connect();
  await admin.query('create database herald_subscriptions');
  await admin.end();
  const databaseUrl = embedded.urlFor('herald_subscriptions');
  const port = await freePort();
  const { key } = await resolveApiKey({ databaseUrl, port, fromEnvironment: process.env.HERALD_BENCH_API_KEY });
  const cluster = await startHerald({ databaseUrl, port, topology: { kind: 'start' }, logLevel: 'warn' });
  const postmaster = postmasterPid(dataDir);
  const monitors = [
    new ProcessGroupMonitor('herald start', () => [cluster.processes[0]!.child.pid!]),
    new ProcessGroupMonitor('postgresql (all backends)', () => (postmaster ? [postmaster, ...childPids(postmaster)] : [])),
    new ProcessGroupMonitor('bench harness (publisher + clients)', () => [process.pid]),
  ];
  const sockets: Client[] = [];
  try {
    const received = new Array<number>(clients).fill(0);
    const latencies: number[] = [];
    // Receipts by send time, to compare with when that publish call returned.
    const receiptsBySentAt = new Map<number, number[]>();
    // Set when the measured phase starts; receipts of events sent before it count only in the ledger.
    let measuredFrom = Infinity;
    let measured = 0;
    let firstReceipt = Infinity;
    let lastReceipt = 0;
    let unparsable = 0;
    const subscribed: Promise<void>[] = [];
    for (let i = 0; i < clients; i++) {
      const client = createClient({
        url: `ws://127.0.0.1:${port}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: key ? { Authorization: `Bearer ${key}` } : {},
        lazy: false,
        retryAttempts: 0,
      });
      sockets.push(client);
      subscribed.push(
        new Promise<void>((resolve) => {
          client.on('connected', () => resolve());
        }),
      );
      client.subscribe<{ eventPublished: { id: string; data: { sentAt?: number } } }>(
        { query: SUBSCRIPTION },
        {
          next: (message) => {
            const now = monotonicMs();
            const sentAt = message.data?.eventPublished.data.sentAt;
            if (typeof sentAt !== 'number') {
              unparsable++;
              return;
            }
            received[i]!++;
            if (sentAt < measuredFrom) return;
            measured++;
            latencies.push(now - sentAt);
            let receipts = receiptsBySentAt.get(sentAt);
            if (!receipts) receiptsBySentAt.set(sentAt, (receipts = []));
            receipts.push(now);
            firstReceipt = Math.min(firstReceipt, now);
            lastReceipt = Math.max(lastReceipt, now);
          },
          error: (error) => logger.warn({ err: error, client: i }, 'subscription failed'),
          complete: () => undefined,
        },
      );
    }
    await Promise.all(subscribed);
    // The subscriptions are registered once the server has answered connection_init; give the last ones a moment.
    await sleep(1000);

    const api = new BenchGraphqlClient(cluster.url, key, 16);
    const batchEveryMs = 50;
    const perBatch = Math.max(1, Math.round((rate * batchEveryMs) / 1000));
    const warmupBatches = Math.ceil((warmup * 1000) / batchEveryMs);
    const batches = warmupBatches + Math.ceil((seconds * 1000) / batchEveryMs);
    const started = monotonicMs();
    let published = 0;
    let measuredPublished = 0;
    const publishMs: number[] = [];
    const respondedAt = new Map<number, number>();
    // How late the harness sent each publish: a busy harness (its clients' messages) delays its own publishes.
    const issueLagMs: number[] = [];
    const sends: Promise<void>[] = [];
    for (let b = 0; b < batches; b++) {
      const due = started + b * batchEveryMs;
      const wait = due - monotonicMs();
      if (wait > 0) await sleep(wait);
      if (b === warmupBatches) {
        measuredFrom = due;
        for (const monitor of monitors) monitor.begin();
      }
      const inWarmup = b < warmupBatches;
      if (!inWarmup) issueLagMs.push(monotonicMs() - due);
      const inputs = Array.from({ length: perBatch }, (_, k) => ({ type: EVENT_TYPE, data: { sentAt: due, seq: b * perBatch + k } }));
      sends.push(
        api.request(PUBLISH, { inputs }).then(
          () => {
            published += perBatch;
            if (inWarmup) return;
            measuredPublished += perBatch;
            const now = monotonicMs();
            publishMs.push(now - due);
            respondedAt.set(due, now);
          },
          (error: unknown) => logger.warn({ err: error }, 'publish failed'),
        ),
      );
    }
    await Promise.all(sends);
    const expected = published * clients;
    const drainUntil = monotonicMs() + 30_000;
    while (received.reduce((a, b) => a + b, 0) < expected && monotonicMs() < drainUntil) await sleep(100);
    // CPU over the measured phase: from its first publish to its last message received.
    const usage = monitors.map((monitor) => monitor.end());
    const usageSeconds = Math.max(0.001, (Math.max(lastReceipt, firstReceipt) - measuredFrom) / 1000);
    await sleep(500);
    for (const member of cluster.processes) {
      if (member.child.exitCode !== null)
        console.error(`${member.name} exited (${member.child.exitCode}):\n${member.output.slice(-40).join('\n')}`);
    }
    const total = received.reduce((a, b) => a + b, 0);
    const latency = percentiles(latencies);
    const publish = percentiles(publishMs);
    const issueLag = percentiles(issueLagMs);
    // Receipt minus the return of its publish call: what fan-out adds once the commit is done (negative when
    // the message overtook the HTTP response; the notification leaves at commit).
    const afterResponse = percentiles(
      [...receiptsBySentAt].flatMap(([sentAt, receipts]) => {
        const responded = respondedAt.get(sentAt);
        return responded === undefined ? [] : receipts.map((receipt) => receipt - responded);
      }),
    );
    const cpu = (group: ProcessUsage) => ({
      name: group.name,
      cpuSeconds: round(group.userSeconds + group.systemSeconds, 2),
      cpuPercentOfOneCore: round((100 * (group.userSeconds + group.systemSeconds)) / usageSeconds, 1),
    });
    const result = {
      clients,
      offeredEventsPerSecond: rate,
      warmupSeconds: warmup,
      seconds,
      published,
      expectedMessages: expected,
      receivedMessages: total,
      missing: expected - total,
      unparsable,
      measuredEvents: measuredPublished,
      measuredMessages: measured,
      messagesPerSecond: measured / Math.max(0.001, (lastReceipt - firstReceipt) / 1000),
      latencyMs: latency,
      publishRoundTripMs: publish,
      publishIssueLagMs: issueLag,
      receiptAfterPublishResponseMs: afterResponse,
      processes: usage.map(cpu),
      loadAverage: os.loadavg(),
      void: total !== expected || unparsable > 0,
    };
    console.log(
      `subscription fan-out: ${clients} clients, ${rate} events/s offered for ${seconds} s after ${warmup} s of warm-up: ` +
        `${published} published, ${total}/${expected} messages received (missing ${expected - total}); measured phase: ` +
        `${result.messagesPerSecond.toFixed(0)} messages/s, ` +
        `latency p50 ${latency?.p50.toFixed(1)} ms p95 ${latency?.p95.toFixed(1)} ms p99 ${latency?.p99.toFixed(1)} ms` +
        (result.void ? ' VOID: the ledger does not balance' : ''),
    );
    console.log(
      `publish sent late by p50 ${issueLag?.p50.toFixed(1)} ms p99 ${issueLag?.p99.toFixed(1)} ms; ` +
        `publish round trip (due to response) p50 ${publish?.p50.toFixed(1)} ms p99 ${publish?.p99.toFixed(1)} ms; ` +
        `receipt after the publish response p50 ${afterResponse?.p50.toFixed(1)} ms p99 ${afterResponse?.p99.toFixed(1)} ms; CPU over the measured phase: ` +
        result.processes.map((group) => `${group.name} ${group.cpuPercentOfOneCore}%`).join(', ') +
        `; load average ${result.loadAverage.map((value) => value.toFixed(2)).join(' ')}`,
    );
    const outDir = path.resolve(__dirname, '../../bench/results/tmp');
    await mkdir(outDir, { recursive: true });
    const out = path.join(outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}-subscriptions.json`);
    await writeFile(out, JSON.stringify(result, null, 2));
    console.log(`results: ${path.relative(process.cwd(), out)}`);
    await api.close();
    return result.void ? 1 : 0;
  } finally {
    for (const socket of sockets) await socket.dispose();
    await cluster.stop();
    await embedded.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
