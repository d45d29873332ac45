import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeleteEndpointDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const RETRY_DELAY_MS = 1000;
const ANSWER_AFTER_MS = 20;

/**
 * FIFO inside one publishEvents batch: an ordered endpoint, or events sharing an orderingKey, have one delivery in
 * flight whatever the batch size; a retry keeps its delay; every request the receiver gets is an attempt Herald
 * recorded. Also: a batch repeating an idempotency key for different events is refused, and deleting an endpoint
 * leaves none of its deliveries' jobs behind.
 */
describe('order and idempotency inside a publishEvents batch', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  const receivers: WebhookReceiver[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    // Many job slots, so that nothing but the ordering rules keeps a batch's deliveries from going out at once.
    herald = await startTestHerald(database.url, { config: { worker: { ...testConfig(database.url).worker, concurrency: 32 } } });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
  });

  async function application(): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'batch-order' } });
    return createApplication.id;
  }

  /** A receiver that answers after 20 ms and fails its 3rd request with 500. */
  async function failingThirdReceiver(): Promise<WebhookReceiver> {
    const receiver = await WebhookReceiver.start((_request, index) => ({ status: index === 2 ? 500 : 200, delayMs: ANSWER_AFTER_MS }));
    receivers.push(receiver);
    return receiver;
  }

  async function endpoint(applicationId: string, url: string, ordered: boolean): Promise<string> {
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url, ordered, retryPolicy: { delaysMs: [RETRY_DELAY_MS], maxAttempts: 3, jitter: 0 } },
    });
    return registerEndpoint.endpoint.id;
  }

  const recordedAttempts = (endpointId: string) =>
    query<{ event_id: string; number: number; response_status: number | null }>(
      database.url,
      `select d.event_id, a.number, a.response_status from delivery_attempts a join deliveries d on d.id = a.delivery_id
       where d.endpoint_id = $1 order by a.attempted_at`,
      [endpointId],
    );

  const cases = [
    { size: 12, mode: 'ordered endpoint' },
    { size: 12, mode: 'orderingKey' },
    { size: 100, mode: 'ordered endpoint' },
    { size: 100, mode: 'orderingKey' },
  ] as const;

  for (const { size, mode } of cases) {
    it(`a batch of ${size} on an ${mode === 'orderingKey' ? 'unordered endpoint with one orderingKey' : mode} goes out strictly in order, one at a time, the retry after its delay, every send recorded`, async () => {
      const target = await failingThirdReceiver();
      const applicationId = await application();
      const endpointId = await endpoint(applicationId, target.url, mode === 'ordered endpoint');
      const orderingKey = mode === 'orderingKey' ? 'customer-42' : undefined;
      const inputs = Array.from({ length: size }, (_, i) => ({ applicationId, type: 'batch.order', data: { i }, orderingKey }));
      const { publishEvents } = await herald.call(PublishEventsDocument, { inputs });
      const published = publishEvents.map((event) => event.id);

      // One failure, one retry: size + 1 requests; every delivery then SUCCEEDED.
      await target.waitForRequests(size + 1, 60_000);
      await waitUntil(
        () =>
          query<{ count: string }>(database.url, `select count(*) from deliveries where endpoint_id = $1 and status = 'SUCCEEDED'`, [
            endpointId,
          ]),
        (rows) => Number(rows[0]!.count) === size,
        30_000,
      );

      const received = target.requests.map((request) => ({
        id: String(request.headers['webhook-id']),
        attempt: Number(request.headers['x-webhook-attempt']),
        at: request.receivedAt,
      }));
      // Strictly in publish order, the failed third event sent again right after itself.
      expect(received.map((request) => request.id)).toEqual([published[0], published[1], published[2], ...published.slice(2)]);
      expect(received.map((request) => request.attempt)).toEqual([1, 1, 1, 2, ...Array(size - 3).fill(1)]);
      expect(target.maxInFlight).toBe(1);
      // The retry waited for its delay after the 500 was answered (jitter 0).
      expect(received[3]!.at - received[2]!.at).toBeGreaterThanOrEqual(RETRY_DELAY_MS + ANSWER_AFTER_MS - 5);

      // Every request the receiver got is an attempt Herald recorded, and nothing more was sent.
      const attempts = await recordedAttempts(endpointId);
      expect(attempts.map((attempt) => `${attempt.event_id}#${attempt.number}`).sort()).toEqual(
        received.map((request) => `${request.id}#${request.attempt}`).sort(),
      );
      expect(attempts.filter((attempt) => attempt.response_status === 500)).toHaveLength(1);
      expect(target.requests).toHaveLength(size + 1);
      const leftover = await query<{ count: string }>(
        database.url,
        `select count(*) from graphile_worker._private_jobs j where j.key = any($1::text[])`,
        [
          (await query<{ id: string }>(database.url, 'select id from deliveries where endpoint_id = $1', [endpointId])).map(
            (row) => `deliver:${row.id}`,
          ),
        ],
      );
      expect(Number(leftover[0]!.count)).toBe(0);
    }, 90_000);
  }

  it('a batch repeating an idempotency key for a different event is refused whole, naming both inputs; an exact repeat is one event', async () => {
    const applicationId = await application();
    const refused = await herald.request(PublishEventsDocument, {
      inputs: [
        { applicationId, type: 'order.created', data: { orderId: 'A-1' }, idempotencyKey: 'other' },
        { applicationId, type: 'batch.one', data: { n: 1 }, idempotencyKey: 'same-key' },
        { applicationId, type: 'batch.two', data: { n: 2 }, idempotencyKey: 'same-key' },
      ],
    });
    expect(refused.data).toBeNull();
    expect(refused.errors).toHaveLength(1);
    const error = refused.errors![0]!;
    expect(error.extensions?.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(error.extensions?.field).toBe('idempotencyKey');
    expect(error.extensions?.indexes).toEqual([1, 2]);
    expect(error.message).toContain('inputs[1] and inputs[2]');
    expect(error.message).toContain('"same-key"');
    expect(error.message).toContain('type, data');
    // Nothing of the batch was written, not even its valid first input.
    const stored = await query(database.url, 'select id from events where application_id = $1', [applicationId]);
    expect(stored).toHaveLength(0);

    // The same key for the same event twice publishes it once, as two calls with the key would.
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [
        { applicationId, type: 'batch.one', data: { n: 1 }, idempotencyKey: 'twice' },
        { applicationId, type: 'batch.one', data: { n: 1 }, idempotencyKey: 'twice' },
      ],
    });
    expect(publishEvents[1]!.id).toBe(publishEvents[0]!.id);
    expect(await query(database.url, 'select id from events where application_id = $1', [applicationId])).toHaveLength(1);
  });

  it('deleting an endpoint removes the jobs of its deliveries: a retry waiting for its delay and FIFO deliveries', async () => {
    const target = await WebhookReceiver.start(() => ({ status: 500 }));
    receivers.push(target);
    const applicationId = await application();
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: target.url, retryPolicy: { delaysMs: [3_600_000], maxAttempts: 3, jitter: 0 } },
    });
    const endpointId = registerEndpoint.endpoint.id;
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: [
        { applicationId, type: 'batch.delete', data: { n: 1 } },
        { applicationId, type: 'batch.delete', data: { n: 2 }, orderingKey: 'k' },
      ],
    });
    const deliveryIds = publishEvents.flatMap((event) => event.deliveries.map((delivery) => delivery.id));
    // Both failed once and wait an hour for their retry, each with its job.
    await waitUntil(
      () =>
        query<{ count: string }>(database.url, `select count(*) from deliveries where endpoint_id = $1 and status = 'FAILED'`, [
          endpointId,
        ]),
      (rows) => Number(rows[0]!.count) === 2,
      20_000,
    );
    const jobsOf = async () =>
      Number(
        (
          await query<{ count: string }>(database.url, 'select count(*) from graphile_worker._private_jobs where key = any($1::text[])', [
            deliveryIds.map((id) => `deliver:${id}`),
          ])
        )[0]!.count,
      );
    await waitUntil(jobsOf, (count) => count === 2, 10_000);

    await herald.call(DeleteEndpointDocument, { id: endpointId });
    expect(await jobsOf()).toBe(0);
    const deliverJobs = await query<{ count: string }>(
      database.url,
      `select count(*) from graphile_worker._private_jobs j
       where j.key like 'deliver:%' and not exists (select 1 from deliveries d where 'deliver:' || d.id = j.key)`,
    );
    expect(Number(deliverJobs[0]!.count)).toBe(0);
    const sequences = await query(database.url, 'select 1 from ordering_sequences where ordering_group like $1', [`${endpointId}%`]);
    expect(sequences).toHaveLength(0);
  });
});
