import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { type EmbeddedPostgresHandle, freePort, startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { createLogger } from '../../src/lib/logger';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { type HeraldProcess, exitOf, graphqlRequest, spawnHerald } from '../helpers/cli';
import { waitUntil } from '../helpers/herald';
import { testRandom } from '../helpers/random';
import { WebhookReceiver } from '../helpers/receiver';

const EVENTS = 500;
const ENDPOINTS = 4;
const DELIVERIES = EVENTS * ENDPOINTS;
/** With the default heartbeat (2 s) and dead-after (10 s) settings, what a dead worker held is attempted again within this. */
const RECOVERY_LIMIT_MS = 15_000;

async function sql<T extends pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** A fault and what it left: the deliveries whose attempts were in flight (slot rows) or whose jobs were held. */
interface Fault {
  name: string;
  at: number;
  inFlight: number;
  /** Deliveries a killed worker held, as "<endpoint index> <event id>", to be attempted again. */
  held: string[];
}

/**
 * Chaos: the real CLI processes (one `herald api`, `herald worker`s) on a PostgreSQL this test controls. 2,000
 * deliveries (500 events x 4 endpoints) go to a receiver that fails 30% of requests at random and verifies every
 * signature; a worker is SIGKILLed twice, PostgreSQL is restarted once, and a worker is started while it is down.
 * Heartbeat and dead-after are Herald's defaults.
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
    'delivers every one of 2,000 deliveries, verified; duplicates only from attempts in flight at a fault; recovery within 15 s; no orphan job; JSON logs',
    { timeout: 480_000 },
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

      // Receipts answered with 2xx per "<endpoint index> <webhook-id>", every request's time, and signatures.
      const secrets: string[] = [];
      const delivered = new Map<string, number>();
      const requestTimes = new Map<string, number[]>();
      let badSignatures = 0;
      const { random } = testRandom('chaos receiver failures');
      receiver = await WebhookReceiver.start((request) => {
        const index = Number(request.path.split('/').pop());
        const key = `${index} ${String(request.headers['webhook-id'])}`;
        requestTimes.set(key, [...(requestTimes.get(key) ?? []), request.receivedAt]);
        try {
          new Webhook(secrets[index]!).verify(request.body, request.headers as Record<string, string>);
        } catch {
          badSignatures++;
          return { status: 400, body: 'bad signature' };
        }
        // Answers take 50 ms, so that a fault always finds attempts in flight.
        if (random() < 0.3) return { status: 500, body: 'random failure', delayMs: 50 };
        delivered.set(key, (delivered.get(key) ?? 0) + 1);
        return { status: 200, delayMs: 50 };
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
      };

      const api = spawnHerald('api', env);
      processes.push(api);
      const url = await api.url;
      // The database is empty: the API process created the first admin key and printed it once.
      const key = await api.adminKey;
      const endpointIndex = new Map<string, number>();
      for (let k = 0; k < ENDPOINTS; k++) {
        const { registerEndpoint } = await graphqlRequest<{ registerEndpoint: { secret: string; endpoint: { id: string } } }>(
          url,
          key,
          RegisterEndpointDocument,
          { input: { url: `${receiver.url}/${k}` } },
        );
        secrets.push(registerEndpoint.secret);
        endpointIndex.set(registerEndpoint.endpoint.id, k);
      }
      const spawnWorker = () => {
        const worker = spawnHerald('worker', env);
        processes.push(worker);
        return worker;
      };
      const startWorker = async () => {
        const worker = spawnWorker();
        await worker.waitForLog(/worker started/, 60_000);
        return worker;
      };
      let worker = await startWorker();

      // Publish with idempotency keys, retrying through the database restart: none is lost or doubled. Every answer
      // that is not a success is kept, with its HTTP status and error code.
      const failures: Array<{ status: number; code: string | undefined }> = [];
      let published = 0;
      const publishOnce = async (i: number): Promise<boolean> => {
        try {
          const response = await fetch(`${url}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
            body: JSON.stringify({
              query: print(PublishEventDocument),
              variables: { input: { type: 'chaos.test', data: { i }, idempotencyKey: `chaos-${i}` } },
            }),
          });
          const body = (await response.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> };
          if (response.status === 200 && body.data && !body.errors) return true;
          failures.push({ status: response.status, code: body.errors?.[0]?.extensions?.code });
          return false;
        } catch {
          return false; // the API process itself unreachable: not what this test kills
        }
      };
      // Paced (about 25 events/s) so that publishing goes on through the faults, the database restart included.
      const publishing = (async () => {
        const next = { i: 0 };
        await Promise.all(
          Array.from({ length: 2 }, async () => {
            for (let i = next.i++; i < EVENTS; i = next.i++) {
              for (let tries = 0; !(await publishOnce(i)); tries++) {
                if (tries > 400) throw new Error(`event ${i} could not be published`);
                // A retry's pause: nothing announces the API's recovery, the next try is the probe.
                await new Promise((resolve) => setTimeout(resolve, 100));
              }
              published++;
              // Pacing, not waiting: the load itself must span the faults.
              await new Promise((resolve) => setTimeout(resolve, 80));
            }
          }),
        );
      })();

      const deliveredAtLeast = (count: number) =>
        waitUntil(
          async () => delivered.size,
          (size) => size >= count,
          180_000,
          20,
        );
      const inFlightCount = async () =>
        Number((await sql<{ count: string }>(databaseUrl, 'select count(*) from endpoint_inflight'))[0]!.count);
      const faults: Fault[] = [];
      /** SIGKILLs a worker, then reads what its pools held: slot rows and locked jobs. */
      const killWorker = async (victim: HeraldProcess, name: string): Promise<void> => {
        // The victim itself must hold attempts in flight (with two workers, the other may hold them all).
        await waitUntil(
          async () =>
            Number(
              (
                await sql<{ count: string }>(
                  databaseUrl,
                  'select count(*) from endpoint_inflight where pool_id in (select pool_id from worker_heartbeats where pid = $1)',
                  [victim.child.pid],
                )
              )[0]!.count,
            ),
          (count) => count > 0,
          30_000,
          10,
        );
        victim.child.kill('SIGKILL');
        const at = Date.now();
        expect((await victim.exited).signal).toBe('SIGKILL');
        const pools = `select pool_id from worker_heartbeats where pid = $1`;
        const held = await sql<{ endpoint_id: string; event_id: string; in_flight: boolean }>(
          databaseUrl,
          `select d.endpoint_id, d.event_id, true as in_flight from endpoint_inflight i join deliveries d on d.id = i.delivery_id
            where i.pool_id in (${pools})
           union
           select d.endpoint_id, d.event_id, false from graphile_worker._private_jobs j join deliveries d on d.id = j.payload ->> 'deliveryId'
            where j.locked_by in (${pools}) and d.status in ('PENDING', 'FAILED')`,
          [victim.child.pid],
        );
        faults.push({
          name,
          at,
          inFlight: held.filter((row) => row.in_flight).length,
          held: [...new Set(held.map((row) => `${endpointIndex.get(row.endpoint_id)} ${row.event_id}`))],
        });
      };

      /** Faults are kept apart: the next one only once everything the last dead worker held was attempted again. */
      const attemptedAgain = (fault: Fault) =>
        waitUntil(
          async () => fault.held.every((pair) => (requestTimes.get(pair) ?? []).some((time) => time > fault.at)),
          (done) => done,
          60_000,
          50,
        );

      await deliveredAtLeast(DELIVERIES * 0.2);
      await killWorker(worker, 'first SIGKILL');
      const second = await startWorker();
      await attemptedAgain(faults[0]!);

      await deliveredAtLeast(DELIVERIES * 0.45);
      // PostgreSQL stops; a worker started meanwhile waits for it, saying so, and then works.
      const inFlightAtRestart = await inFlightCount();
      await postgres.stop();
      const stoppedAt = Date.now();
      faults.push({ name: 'PostgreSQL restart', at: stoppedAt, inFlight: inFlightAtRestart, held: [] });
      const third = spawnWorker();
      await third.waitForLog(/waiting for the database/, 60_000);
      postgres = await startEmbeddedPostgres({ dataDir, logger, durable: false, port });
      const restartedAt = Date.now();
      await third.waitForLog(/worker started/, 60_000);

      await deliveredAtLeast(DELIVERIES * 0.7);
      await killWorker(second, 'second SIGKILL');
      worker = third;
      await attemptedAgain(faults[2]!);

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

      // Every (endpoint, event) pair reached the receiver with a 2xx and a valid signature: nothing was lost.
      const events = await sql<{ id: string }>(databaseUrl, 'select id from events');
      expect(events).toHaveLength(EVENTS);
      for (const { id } of events) {
        for (let k = 0; k < ENDPOINTS; k++) expect(delivered.get(`${k} ${id}`), `${k} ${id}`).toBeGreaterThanOrEqual(1);
      }
      expect(delivered.size).toBe(DELIVERIES);
      expect(badSignatures).toBe(0);

      // What a dead worker held was attempted again within 15 s of its death.
      const recoveries = faults
        .filter((fault) => fault.held.length > 0)
        .map((fault) => ({
          fault: fault.name,
          held: fault.held.length,
          sweptAfterMs: Math.min(
            ...processes.flatMap((process) =>
              process.output
                .filter((line) => line.includes('unlocked the jobs of dead workers'))
                .map((line) => (JSON.parse(line) as { time: number }).time - fault.at)
                .filter((ms) => ms > 0),
            ),
          ),
          slowestMs: Math.max(...fault.held.map((pair) => (requestTimes.get(pair) ?? []).find((time) => time > fault.at)! - fault.at)),
        }));

      // No delivery job is left behind (spent jobs of finished deliveries are swept within the dead-after time).
      const [jobs] = await waitUntil(
        () =>
          sql<{ count: string }>(
            databaseUrl,
            `select count(*) from graphile_worker._private_jobs
             where task_id = (select id from graphile_worker._private_tasks where identifier = 'deliver')`,
          ),
        (rows) => Number(rows[0]!.count) === 0,
        30_000,
        500,
      );

      const duplicates = [...delivered.values()].reduce((sum, count) => sum + count - 1, 0);
      const inFlightAtFaults = faults.reduce((sum, fault) => sum + fault.inFlight, 0);
      const workerSawRestart = [second, third].some((process) =>
        process.output.some(
          (line) => line.includes('delivery attempt recorded') && (JSON.parse(line) as { time: number }).time > restartedAt,
        ),
      );
      // Every line each process wrote is one JSON object (the admin key's box on the API's stdout is not a log line).
      const notJson = processes.flatMap((process) =>
        process.output.filter((line) => {
          if (/^[+|]/.test(line)) return false;
          try {
            return typeof JSON.parse(line) !== 'object';
          } catch {
            return true;
          }
        }),
      );
      console.log(
        [
          `chaos: ${DELIVERIES} deliveries, ${receiver.requests.length} requests, lost 0, bad signatures ${badSignatures}`,
          `duplicates ${duplicates}, attempts in flight at the faults ${faults.map((fault) => `${fault.name} ${fault.inFlight}`).join(', ')}`,
          `recovery: ${recoveries.map((r) => `${r.fault}: ${r.held} held, swept after ${r.sweptAfterMs} ms, all attempted again within ${r.slowestMs} ms`).join('; ')}`,
          `publish answers other than 200: ${JSON.stringify(failures.reduce<Record<string, number>>((counts, f) => ({ ...counts, [`${f.status} ${f.code}`]: (counts[`${f.status} ${f.code}`] ?? 0) + 1 }), {}))}`,
          `jobs left ${jobs!.count}, log lines not JSON ${notJson.length}`,
        ].join('\n'),
      );
      expect(duplicates).toBeLessThanOrEqual(inFlightAtFaults);
      for (const recovery of recoveries) expect(recovery.slowestMs, recovery.fault).toBeLessThanOrEqual(RECOVERY_LIMIT_MS);
      expect(recoveries).toHaveLength(2);
      // A database outage is ours: never a client-error code, and every 5xx says the service is unavailable.
      expect(failures.filter((failure) => failure.status < 500 || failure.code !== 'SERVICE_UNAVAILABLE')).toEqual([]);
      expect(notJson).toEqual([]);
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
