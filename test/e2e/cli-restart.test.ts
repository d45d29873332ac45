import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { graphqlRequest, spawnHerald, type HeraldProcess, exitOf } from '../helpers/cli';
import { createTestDatabase, query } from '../helpers/database';
import { waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

/** Several real processes start here (each migrates and connects): slow on a loaded 2-core machine. */
const SPAWN_TIMEOUT_MS = 120_000;

describe('the herald CLI: queued deliveries survive a process restart', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: WebhookReceiver;
  const processes: HeraldProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    for (const process of processes) process.child.kill('SIGKILL');
    await receiver?.close();
    await database?.drop();
  }, 120_000);

  it('delivers events queued before the API process was killed once a worker process starts', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const env = { DATABASE_URL: database.url, WORKER_POLL_INTERVAL_MS: '200' };
    const api = spawnHerald('api', env);
    processes.push(api);
    const url = await api.url;
    // The database is empty: the API process created the first admin key and printed it once.
    const key = await api.adminKey;
    const graphql = <T>(document: Parameters<typeof graphqlRequest>[2], variables: unknown) =>
      graphqlRequest<T>(url, key, document, variables);

    const { registerEndpoint } = await graphql<{ registerEndpoint: { endpoint: { id: string } } }>(RegisterEndpointDocument, {
      input: { url: receiver.url },
    });
    expect(registerEndpoint.endpoint.id).toMatch(/^ep_/);
    const published: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { publishEvent } = await graphql<{ publishEvent: { id: string } }>(PublishEventDocument, {
        input: { type: 'order.created', data: { orderId: `O-${i}`, n: i } },
      });
      published.push(publishEvent.id);
    }
    // No worker runs yet: nothing is delivered, everything is queued in PostgreSQL. A delivery that must not happen
    // has no event to wait on (no process that could send one exists to give a sentinel): a moment is allowed.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(0);
    const [queued] = await query<{ count: string }>(database.url, "select count(*) from deliveries where status = 'PENDING'");
    expect(Number(queued!.count)).toBe(20);

    api.child.kill('SIGKILL');
    expect((await api.exited).signal).toBe('SIGKILL');

    const worker = spawnHerald('worker', env);
    processes.push(worker);
    await worker.waitForLog(/worker started/);
    await receiver.waitForRequests(20, 60_000);
    const ids = receiver.requests.map((request) => request.headers['webhook-id']);
    expect(new Set(ids)).toEqual(new Set(published));
    expect(ids).toHaveLength(20);
    await waitUntil(
      () => query<{ count: string }>(database.url, "select count(*) from deliveries where status = 'SUCCEEDED'"),
      (rows) => Number(rows[0]!.count) === 20,
    );

    // SIGTERM drains and exits cleanly.
    worker.child.kill('SIGTERM');
    expect(await exitOf(worker)).toEqual({ code: 0, signal: null, unclean: [] });
    expect(worker.output.some((line) => line.includes('shutting down'))).toBe(true);
  });

  it('`herald migrate` applies migrations and exits 0 on an up-to-date database', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const migrate = spawnHerald('migrate', { DATABASE_URL: database.url });
    processes.push(migrate);
    expect(await migrate.exited).toEqual({ code: 0, signal: null });
    expect(migrate.output.some((line) => line.includes('database already up to date'))).toBe(true);
  });
});
