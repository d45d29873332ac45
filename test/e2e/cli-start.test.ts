import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

    const readiness = await fetch(`${url}/readyz`);
    expect(await readiness.json()).toMatchObject({ status: 'ready', checks: { worker: 'ok' } });

    herald.child.kill('SIGTERM');
    expect(await exitOf(herald)).toEqual({ code: 0, signal: null, unclean: [] });
    const output = herald.output.join('\n');
    expect(output).toMatch(/"msg":"stopped"/);
    expect(output).not.toMatch(/second signal/);
  });
});
