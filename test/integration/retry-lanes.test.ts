import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute } from '../../src/db/sql';
import { requeueDeliveries } from '../../src/queue/requeue';
import { DELIVER_RETRY_TASK, DELIVER_TASK } from '../../src/queue/deliver-job';
import {
  CreateApplicationDocument,
  PublishEventDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';

const RETRIES = 300;
const LANE = 2;

/**
 * A receiver that fails the first attempt of every storm delivery and answers its retries slowly, answers fresh
 * deliveries at once, and counts the retry attempts it is answering at the same time (from the signed body's attempt).
 */
class LaneReceiver {
  /** Requests in order of arrival: `storm:<attempt>`, `fresh` or `other`. */
  readonly arrivals: string[] = [];
  retriesInFlight = 0;
  maxRetriesInFlight = 0;
  private readonly server = http.createServer((req, res) => void this.handle(req, res));
  private waiters: Array<() => void> = [];

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(prefix: string): number {
    return this.arrivals.filter((arrival) => arrival.startsWith(prefix)).length;
  }

  async waitFor(check: () => boolean, timeoutMs = 15_000): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`receiver condition not met; arrivals: ${this.arrivals.length}`)), timeoutMs);
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((other) => other !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const { attempt } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { attempt: number };
    const storm = req.url?.startsWith('/storm') ?? false;
    this.arrivals.push(storm ? `storm:${attempt}` : req.url?.startsWith('/fresh') ? 'fresh' : 'other');
    for (const waiter of [...this.waiters]) waiter();
    if (!storm) return void res.writeHead(200).end('{}');
    if (attempt === 1) return void res.writeHead(500).end('{}');
    this.maxRetriesInFlight = Math.max(this.maxRetriesInFlight, ++this.retriesInFlight);
    // Slow but succeeding: the retry lane stays full while the storm lasts.
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.retriesInFlight -= 1;
    res.writeHead(200).end('{}');
  }
}

/**
 * The retry lane (docs/delivery-policy.md): retries' jobs have a task of their own, run by the worker's retry pool,
 * and at most `retryConcurrency` of them run at once in a worker process.
 */
describe('retry lanes', { timeout: 60_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  const receiver = new LaneReceiver();
  let base: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    base = await receiver.start();
    const defaults = testConfig(database.url);
    herald = await startTestHerald(database.url, {
      config: {
        worker: { ...defaults.worker, concurrency: 4, retryConcurrency: LANE },
        // One retry, a minute later: the test makes the retries due itself, all at once.
        delivery: {
          ...defaults.delivery,
          retry: { schedule: { kind: 'delays', delaysMs: [60_000] }, maxAttempts: 3, maxAgeMs: null, jitter: 0 },
        },
      },
    });
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver.close();
    await database?.drop();
  });

  const application = async (name: string) => (await herald.call(CreateApplicationDocument, { input: { name } })).createApplication.id;
  const endpoint = async (applicationId: string, url: string) =>
    (await herald.call(RegisterEndpointDocument, { input: { applicationId, url } })).registerEndpoint.endpoint.id;
  const jobsOf = (deliveryIds: string[]) =>
    query<{ key: string; task_identifier: string; payload: { attempt: number } }>(
      database.url,
      `select j.key, t.identifier as task_identifier, j.payload
         from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where j.key = any($1::text[])`,
      [deliveryIds.map((id) => `deliver:${id}`)],
    );

  it("a first attempt's job has the deliver task; a retry's (from the engine or a requeue) has the retry lane's", async () => {
    const applicationId = await application('specs');
    await endpoint(applicationId, `${base}/other`);
    const deliverAt = new Date(Date.now() + 3_600_000).toISOString();
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { applicationId, type: 'lane.scheduled', data: {}, deliverAt },
    });
    const deliveryId = publishEvent.deliveries[0]!.id;
    const [first] = await jobsOf([deliveryId]);
    expect(first).toMatchObject({ task_identifier: DELIVER_TASK, payload: { attempt: 1 } });

    // A replay or retryDelivery of a delivery with an attempt made is a retry: it goes to the lane too.
    await query(database.url, `update deliveries set attempt_count = 1, status = 'DEAD' where id = $1`, [deliveryId]);
    // Read in the requeue's transaction: once committed, the worker may run the job at once.
    const requeued = await herald.handle.database.orm.em.fork().transactional(async (tx) => {
      await requeueDeliveries(tx, [deliveryId]);
      return execute<{ task_identifier: string; payload: { attempt: number } }>(
        tx,
        `select t.identifier as task_identifier, j.payload
           from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where j.key = ?`,
        [`deliver:${deliveryId}`],
      );
    });
    expect(requeued).toEqual([{ task_identifier: DELIVER_RETRY_TASK, payload: { deliveryId, attempt: 2 } }]);
  });

  it('takes a fresh first attempt before a storm of due retries, and never runs more than the lane of retries at once', async () => {
    const stormApp = await application('storm');
    await endpoint(stormApp, `${base}/storm`);
    const freshApp = await application('fresh');
    await endpoint(freshApp, `${base}/fresh`);

    const stormIds: string[] = [];
    for (let from = 0; from < RETRIES; from += 100) {
      const { publishEvents } = await herald.call(PublishEventsDocument, {
        inputs: Array.from({ length: 100 }, (_, n) => ({ applicationId: stormApp, type: 'lane.storm', data: { n: from + n } })),
      });
      stormIds.push(...publishEvents.map((event) => event.deliveries[0]!.id));
    }
    await receiver.waitFor(() => receiver.count('storm:1') === RETRIES);
    const retryJobs = await waitUntil(
      () => jobsOf(stormIds),
      (jobs) => jobs.length === RETRIES && jobs.every((job) => job.payload.attempt === 2),
    );
    expect(new Set(retryJobs.map((job) => job.task_identifier))).toEqual(new Set([DELIVER_RETRY_TASK]));

    // Every retry due at once (graphile-worker's public reschedule_jobs), then, once they are under way, a fresh event.
    await query(
      database.url,
      `select graphile_worker.reschedule_jobs(array(select id from graphile_worker.jobs where key = any($1::text[])), run_at := now())`,
      [stormIds.map((id) => `deliver:${id}`)],
    );
    await receiver.waitFor(() => receiver.count('storm:2') >= LANE);
    await herald.call(PublishEventDocument, { input: { applicationId: freshApp, type: 'lane.fresh', data: {} } });
    await receiver.waitFor(() => receiver.count('fresh') === 1);
    const retriesBeforeFresh = receiver.arrivals
      .slice(0, receiver.arrivals.indexOf('fresh'))
      .filter((arrival) => arrival === 'storm:2').length;
    await receiver.waitFor(() => receiver.count('storm:2') === RETRIES, 30_000);

    // Without the lane the fresh attempt's job would come after every retry that was due before it.
    expect(retriesBeforeFresh).toBeLessThan(RETRIES / 4);
    expect(receiver.maxRetriesInFlight).toBeLessThanOrEqual(LANE);
    // The lane was used, not merely never filled.
    expect(receiver.maxRetriesInFlight).toBe(LANE);
  });
});
