import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { type EmbeddedPostgresHandle, freePort, startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { createLogger } from '../../src/lib/logger';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { type HeraldProcess, graphqlRequest, spawnHerald, exitOf } from '../helpers/cli';
import { waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const EVENTS = 500;
const ENDPOINTS = 4;
const DELIVERIES = EVENTS * ENDPOINTS;

/** Every request carries the admin key printed by the first `herald api`. */
const graphql = graphqlRequest;

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Chaos: the real CLI processes (one `herald api`, one `herald worker` at a time) on a PostgreSQL this
 * test controls. 2,000 deliveries (500 events x 4 endpoints) go to a receiver that fails 30% of requests
 * at random; the worker is SIGKILLed twice and PostgreSQL is restarted once while work flows.
 */
describe('chaos: SIGKILLed workers and a PostgreSQL restart lose nothing', () => {
  const logger = createLogger({ level: 'warn', pretty: false, name: 'chaos-postgres' });
  const processes: HeraldProcess[] = [];
  let postgres: EmbeddedPostgresHandle | undefined;
  let dataDir: string | undefined;
  let receiver: WebhookReceiver | undefined;

  afterAll(async () => {
    for (const process of processes) if (process.child.exitCode === null) process.child.kill('SIGKILL');
    await receiver?.close();
    await postgres?.stop().catch(() => undefined);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'delivers every one of 2,000 deliveries; duplicates are bounded by what was in flight at the kills',
    { timeout: 420_000 },
    async () => {
      onTestFailed(() => {
        for (const process of processes) {
          const lines = process.output.filter((line) => !line.includes('delivery attempt recorded'));
          console.error(`--- herald pid ${process.child.pid}:\n${lines.slice(-25).join('\n')}`);
        }
      });
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-test-pg-'));
      const port = await freePort();
      postgres = await startEmbeddedPostgres({ dataDir, logger, durable: false, port });
      await sql(postgres.adminUrl, 'create database chaos');
      const databaseUrl = postgres.urlFor('chaos');

      // Receipts the receiver answered with 2xx, per endpoint path and webhook-id.
      const delivered = new Map<string, number>();
      receiver = await WebhookReceiver.start((request) => {
        if (Math.random() < 0.3) return { status: 500, body: 'random failure' };
        const key = `${request.path} ${String(request.headers['webhook-id'])}`;
        delivered.set(key, (delivered.get(key) ?? 0) + 1);
        return { status: 200 };
      });
      const env = {
        DATABASE_URL: databaseUrl,
        WORKER_CONCURRENCY: '32',
        WORKER_POLL_INTERVAL_MS: '200',
        DELIVERY_RETRY_POLICY: 'seed',
        DELIVERY_BACKOFF_BASE_MS: '100',
        DELIVERY_BACKOFF_MAX_MS: '1000',
        DELIVERY_MAX_ATTEMPTS: '50',
        DELIVERY_TIMEOUT_MS: '3000',
        ENDPOINT_MAX_CONCURRENCY: '16',
        WORKER_HEARTBEAT_INTERVAL_MS: '500',
        WORKER_DEAD_AFTER_MS: '3000',
      };

      const api = spawnHerald('api', env);
      processes.push(api);
      const url = await api.url;
      // The database is empty: the API process created the first admin key and printed it once.
      const key = await api.adminKey;
      for (let k = 0; k < ENDPOINTS; k++) {
        await graphql(url, key, RegisterEndpointDocument, { input: { url: `${receiver.url}/${k}` } });
      }
      const startWorker = async () => {
        const worker = spawnHerald('worker', env);
        processes.push(worker);
        await worker.waitForLog(/worker started/, 60_000);
        return worker;
      };
      let worker = await startWorker();

      // Publish with idempotency keys, retrying through the database restart: none is lost or doubled.
      let published = 0;
      const publishing = (async () => {
        const next = { i: 0 };
        await Promise.all(
          Array.from({ length: 6 }, async () => {
            for (let i = next.i++; i < EVENTS; i = next.i++) {
              for (let tries = 0; ; tries++) {
                try {
                  await graphql(url, key, PublishEventDocument, {
                    input: { type: 'chaos.test', data: { i }, idempotencyKey: `chaos-${i}` },
                  });
                  published++;
                  break;
                } catch (error) {
                  if (tries > 200) throw error;
                  await new Promise((resolve) => setTimeout(resolve, 250));
                }
              }
            }
          }),
        );
      })();

      const deliveredAtLeast = (count: number) =>
        waitUntil(
          async () => delivered.size,
          (size) => size >= count,
          120_000,
          20,
        );
      const inFlight = async () => Number((await sql<{ count: string }>(databaseUrl, 'select count(*) from endpoint_inflight'))[0]!.count);
      const killWorker = async () => {
        worker.child.kill('SIGKILL');
        expect((await worker.exited).signal).toBe('SIGKILL');
        // Every delivery the dead worker had started still holds its endpoint slot row.
        return inFlight();
      };

      await deliveredAtLeast(DELIVERIES * 0.2);
      const inFlightAtFirstKill = await killWorker();
      const killedAt = Date.now();
      worker = await startWorker();

      await deliveredAtLeast(DELIVERIES * 0.45);
      const recoveredWithin = Date.now() - killedAt;
      await postgres.stop();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      postgres = await startEmbeddedPostgres({ dataDir, logger, durable: false, port });
      const restartedAt = Date.now();

      await deliveredAtLeast(DELIVERIES * 0.7);
      const inFlightAtSecondKill = await killWorker();
      worker = await startWorker();

      await publishing;
      expect(published).toBe(EVENTS);
      await deliveredAtLeast(DELIVERIES);
      const [state] = await waitUntil(
        () =>
          sql<{ total: string; succeeded: string }>(
            databaseUrl,
            "select count(*) as total, count(*) filter (where status = 'SUCCEEDED') as succeeded from deliveries",
          ),
        (rows) => Number(rows[0]!.succeeded) === DELIVERIES,
        60_000,
        200,
      );
      expect(Number(state!.total)).toBe(DELIVERIES);

      // Every (endpoint, event) pair reached the receiver with a 2xx: nothing was lost.
      const events = await sql<{ id: string }>(databaseUrl, 'select id from events');
      expect(events).toHaveLength(EVENTS);
      for (const { id } of events) {
        for (let k = 0; k < ENDPOINTS; k++) expect(delivered.get(`/webhooks/${k} ${id}`), `${k} ${id}`).toBeGreaterThanOrEqual(1);
      }
      expect(delivered.size).toBe(DELIVERIES);
      const duplicates = [...delivered.values()].reduce((sum, count) => sum + count - 1, 0);
      const workerSawRestart = processes.some((process) =>
        process.output.some(
          (line) => line.includes('delivery attempt recorded') && (JSON.parse(line) as { time: number }).time > restartedAt,
        ),
      );
      console.log(
        `chaos: ${DELIVERIES} deliveries, ${receiver.requests.length} requests, duplicates ${duplicates}, ` +
          `in flight at the kills ${inFlightAtFirstKill} + ${inFlightAtSecondKill}, first kill recovered in ${recoveredWithin} ms`,
      );
      expect(duplicates).toBeLessThanOrEqual(inFlightAtFirstKill + inFlightAtSecondKill);
      // The API process and the worker that lived through the restart carried on without being restarted.
      expect(api.child.exitCode).toBeNull();
      expect(workerSawRestart).toBe(true);

      // SIGTERM drains and exits 0.
      worker.child.kill('SIGTERM');
      api.child.kill('SIGTERM');
      expect(await exitOf(worker)).toEqual({ code: 0, signal: null, unclean: [] });
      expect(await exitOf(api)).toEqual({ code: 0, signal: null, unclean: [] });
    },
  );
});
