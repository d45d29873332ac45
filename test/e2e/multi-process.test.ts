import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  DeliveryUpdatedDocument,
  type DeliveryUpdatedSubscription,
  PublishEventDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { type HeraldProcess, createKeyWithCli, graphqlRequest, spawnHerald } from '../helpers/cli';
import { createTestDatabase } from '../helpers/database';
import { SubscriptionRecorder } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

/** Several real processes start here (each migrates and connects): slow on a loaded 2-core machine. */
const SPAWN_TIMEOUT_MS = 120_000;

describe('separate processes: two `herald api` and one `herald worker` on one database', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: WebhookReceiver;
  const processes: HeraldProcess[] = [];
  const clients: Array<ReturnType<typeof createClient>> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    receiver = await WebhookReceiver.start((_request, index) => (index === 0 ? { status: 500 } : { status: 200 }));
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    for (const process of processes) process.child.kill('SIGKILL');
    await receiver?.close();
    await database?.drop();
  }, 120_000);

  it("streams the worker process's outcomes to the subscribers of every API process", { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const env = { DATABASE_URL: database.url, WORKER_POLL_INTERVAL_MS: '100', DELIVERY_BACKOFF_BASE_MS: '200' };
    const key = await createKeyWithCli({ DATABASE_URL: database.url });
    const [apiA, apiB, worker] = [spawnHerald('api', env), spawnHerald('api', env), spawnHerald('worker', env)];
    processes.push(apiA, apiB, worker);
    const [urlA, urlB] = await Promise.all([apiA.url, apiB.url]);
    await worker.waitForLog(/worker started/);

    const recorders = [urlA, urlB].map((url) => {
      const client = createClient({
        url: `${url.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { Authorization: `Bearer ${key}` },
      });
      clients.push(client);
      return new SubscriptionRecorder<DeliveryUpdatedSubscription>(client, DeliveryUpdatedDocument, {});
    });
    await Promise.all(recorders.map((recorder) => recorder.ready));

    await graphqlRequest(urlA, key, RegisterEndpointDocument, { input: { url: receiver.url } });
    const { publishEvent } = await graphqlRequest<{ publishEvent: { id: string } }>(urlB, key, PublishEventDocument, {
      input: { type: 'shipment.created', data: { shipmentId: 'shp_1' } },
    });

    for (const recorder of recorders) {
      const updates = await recorder.waitFor((all) => all.some((u) => u.deliveryUpdated.delivery.status === 'SUCCEEDED'));
      const sequence = updates
        .filter((u) => u.deliveryUpdated.delivery.eventId === publishEvent.id)
        .map((u) => [u.deliveryUpdated.delivery.status, u.deliveryUpdated.attempt?.number, u.deliveryUpdated.attempt?.responseStatus]);
      expect(sequence).toEqual([
        ['FAILED', 1, 500],
        ['SUCCEEDED', 2, 200],
      ]);
    }
    // Neither API process delivers anything itself: only the worker has the deliver task.
    expect(receiver.requests).toHaveLength(2);
  });
});
