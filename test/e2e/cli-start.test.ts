import { readFile, readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statFields } from '../../bench/lib/proc';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { graphqlRequest, spawnHerald, type HeraldProcess, exitOf } from '../helpers/cli';
import { createTestDatabase } from '../helpers/database';
import { WebhookReceiver } from '../helpers/receiver';

describe('herald start: the API and the worker thread, and a clean stop', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: WebhookReceiver;
  let herald: HeraldProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    herald?.child.kill('SIGKILL');
    await receiver?.close();
    await database?.drop();
  }, 120_000);

  // NODE_ENV=development as a user runs it: Apollo's own termination handler is on outside NODE_ENV=test, and it
  // once re-raised SIGTERM, cutting the drain short with exit code 1.
  it('delivers from its worker thread, then drains and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
    herald = spawnHerald('start', { DATABASE_URL: database.url, NODE_ENV: 'development', WORKER_POLL_INTERVAL_MS: '200' });
    const url = await herald.url;
    const key = await herald.adminKey;
    await herald.waitForLog(/"thread":"worker".*worker started/);
    const graphql = <T>(document: Parameters<typeof graphqlRequest>[2], variables: unknown) =>
      graphqlRequest<T>(url, key, document, variables);
    await graphql(RegisterEndpointDocument, { input: { url: receiver.url } });
    for (let i = 0; i < 10; i++) {
      await graphql(PublishEventDocument, { input: { type: 'order.created', data: { orderId: `T-${i}` } } });
    }
    await receiver.waitForRequests(10, 60_000);

    // The API's thread (the main one) yields to the worker thread under CPU contention; the others keep niceness 0.
    const niceness = await threadNiceness(herald.child.pid!);
    expect(niceness.get(herald.child.pid!)).toBe(10);
    expect([...niceness.values()].filter((value) => value === 0).length).toBeGreaterThan(0);

    const readiness = await fetch(`${url}/readyz`);
    expect(await readiness.json()).toMatchObject({ status: 'ready', checks: { worker: 'ok' } });

    herald.child.kill('SIGTERM');
    expect(await exitOf(herald)).toEqual({ code: 0, signal: null, unclean: [] });
    const output = herald.output.join('\n');
    expect(output).toMatch(/"msg":"stopped"/);
    expect(output).not.toMatch(/second signal/);
  });
});

/** Each thread's niceness by thread id, from /proc (field 19 of a task's stat). */
async function threadNiceness(pid: number): Promise<Map<number, number>> {
  const niceness = new Map<number, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    niceness.set(Number(tid), statFields(await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8'))[19 - 3]!);
  }
  return niceness;
}
