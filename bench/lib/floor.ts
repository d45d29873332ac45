import { createHmac } from 'node:crypto';
import { Logger, run, runMigrations } from 'graphile-worker';
import pg from 'pg';
import { Agent, request } from 'undici';
import { monotonicMs } from './clock';
import { round } from './proc';
import type { BenchReceiver } from './receiver';
import { computeLedger, type Ledger, percentiles, type Percentiles } from './stats';

export interface WorkerFloorResult {
  variant: string;
  jobs: number;
  jobsPerSecond: number;
}

/**
 * graphile-worker with no-op jobs: what the job queue alone allows on this machine. The jobs are
 * inserted first (add_jobs, 1,000 per call), then one runner drains them at `concurrency`.
 */
export async function measureWorkerFloor(options: {
  databaseUrl: string;
  jobs: number;
  concurrency: number;
  variant: 'default' | 'localQueue+batched';
}): Promise<WorkerFloorResult> {
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.concurrency + 4 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  try {
    await runMigrations({ pgPool: pool });
    for (let inserted = 0; inserted < options.jobs; inserted += 1000) {
      const count = Math.min(1000, options.jobs - inserted);
      const specs = Array.from({ length: count }, (_, n) => ({ identifier: 'noop', payload: { n: inserted + n } }));
      await pool.query(
        `select 1 from graphile_worker.add_jobs((select array_agg(spec) from json_populate_recordset(null::graphile_worker.job_spec, $1::json) as spec))`,
        [JSON.stringify(specs)],
      );
    }
    let done = 0;
    let finished: () => void = () => undefined;
    const allDone = new Promise<void>((resolve) => (finished = resolve));
    const started = monotonicMs();
    const runner = await run(
      {
        pgPool: pool,
        concurrency: options.concurrency,
        noHandleSignals: true,
        pollInterval: 1000,
        logger: silentLogger,
        taskList: {
          noop: async () => {
            if (++done >= options.jobs) finished();
          },
        },
        ...(options.variant === 'localQueue+batched'
          ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 2, failJobBatchDelay: 2 } } }
          : {}),
      },
      undefined,
      [],
    );
    await allDone;
    // Completions are written after the task returns: wait until the table is really empty.
    for (;;) {
      const { rows } = await pool.query<{ n: string }>('select count(*) as n from graphile_worker._private_jobs');
      if (Number(rows[0]!.n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const seconds = (monotonicMs() - started) / 1000;
    await runner.stop();
    await runner.promise.catch(() => undefined);
    return { variant: options.variant, jobs: options.jobs, jobsPerSecond: round(options.jobs / seconds, 1) };
  } finally {
    await pool.end();
  }
}

const silentLogger = new Logger(() => () => undefined);

export interface PostFloorResult {
  concurrency: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: Percentiles | null;
  ledger: Ledger;
}

/** A raw signed POST loop with undici to the same receiver: no API, no database, no bookkeeping. */
export async function measurePostFloor(options: {
  receiver: BenchReceiver;
  scenario: string;
  seconds: number;
  concurrency: number;
  payloadBytes: number;
}): Promise<PostFloorResult> {
  const agent = new Agent({ connections: options.concurrency, keepAliveTimeout: 30_000 });
  const url = options.receiver.url(options.scenario, 0);
  const secret = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  const padding = 'x'.repeat(Math.max(0, options.payloadBytes - 120));
  const deadline = monotonicMs() + options.seconds * 1000;
  const sent: number[] = [];
  const latencies: number[] = [];
  let seq = 0;
  const started = monotonicMs();
  const loop = async () => {
    while (monotonicMs() < deadline) {
      const mine = seq++;
      const sentAt = monotonicMs();
      const body = JSON.stringify({ id: `evt_${mine}`, event: 'bench.floor', data: { seq: mine, sentAt, padding } });
      const timestamp = Math.floor(Date.now() / 1000);
      const signature = createHmac('sha256', secret).update(`evt_${mine}.${timestamp}.`).update(body).digest('base64');
      const response = await request(url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'webhook-id': `evt_${mine}`,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': `v1,${signature}`,
        },
        body,
      });
      await response.body.dump();
      if (response.statusCode === 200) {
        sent.push(mine);
        latencies.push(monotonicMs() - sentAt);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  const seconds = (monotonicMs() - started) / 1000;
  await agent.close();
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { deliveries } = await options.receiver.collect(options.scenario);
  return {
    concurrency: options.concurrency,
    seconds: round(seconds, 2),
    requestsPerSecond: round(sent.length / seconds, 1),
    latencyMs: percentiles(latencies),
    ledger: computeLedger(sent, 1, deliveries),
  };
}
