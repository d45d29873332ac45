import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
  UpdateEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { attemptStartTimes, query } from '../helpers/database';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

/** The most arrivals within any window of `windowMs` (each arrival opens one). */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[j]! < sorted[i]! - windowMs + 1) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

const heraldFile = heraldTestWith();

describe('per-endpoint rate limit (rateLimitPerSecond)', { timeout: 90_000 }, () => {
  let database: { url: string };
  let herald: TestHerald;
  let limitedReceiver: WebhookReceiver;
  let freeReceiver: WebhookReceiver;
  let applicationId: string;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    limitedReceiver = await WebhookReceiver.start();
    freeReceiver = await WebhookReceiver.start();
    applicationId = (await herald.call(CreateApplicationDocument, { input: { name: 'rate' } })).createApplication.id;
  });
  afterAll(async () => {
    await limitedReceiver?.close();
    await freeReceiver?.close();
  });

  it('starts no more than rateLimitPerSecond attempts in any second, while an endpoint without a limit is not slowed', async () => {
    const limited = await herald.call(RegisterEndpointDocument, {
      input: { applicationId, url: limitedReceiver.url, eventTypes: ['limited.*'], rateLimitPerSecond: 5 },
    });
    expect(limited.registerEndpoint.endpoint.rateLimitPerSecond).toBe(5);
    const free = await herald.call(RegisterEndpointDocument, { input: { applicationId, url: freeReceiver.url, eventTypes: ['free.*'] } });
    expect(free.registerEndpoint.endpoint.rateLimitPerSecond).toBeNull();

    const events = (prefix: string) => Array.from({ length: 20 }, (_, i) => ({ applicationId, type: `${prefix}.tick`, data: { i } }));
    await herald.call(PublishEventsDocument, { inputs: events('limited') });
    await herald.call(PublishEventsDocument, { inputs: events('free') });

    await freeReceiver.waitForRequests(20, 20_000);
    // The unlimited endpoint finished while the limited one was still draining (20 at 5/s take about 4 s).
    expect(limitedReceiver.requests.length).toBeLessThan(20);

    const limitedArrivals = await limitedReceiver.waitForRequests(20, 30_000);
    // Every one was delivered once, none lost or doubled while waiting for its slot.
    expect(new Set(limitedArrivals.map((request) => JSON.parse(request.body).id as string)).size).toBe(20);
    // Once every delivery has recorded its outcome, none is attempted again.
    const statuses = await waitUntil(
      () =>
        query<{ status: string; n: number }>(
          database.url,
          `select status, count(*)::int as n from deliveries where endpoint_id = $1 group by status`,
          [limited.registerEndpoint.endpoint.id],
        ),
      (rows) => rows.every((row) => row.status === 'SUCCEEDED' || row.status === 'DEAD'),
    );
    expect(statuses).toEqual([{ status: 'SUCCEEDED', n: 20 }]);
    expect(limitedReceiver.requests).toHaveLength(20);

    // The limit is on attempt starts: judged on the start times Herald recorded, not on the test's own clock.
    const freeStarts = await attemptStartTimes(database.url, { endpointId: free.registerEndpoint.endpoint.id });
    const times = await attemptStartTimes(database.url, { endpointId: limited.registerEndpoint.endpoint.id });
    expect(times).toHaveLength(20);
    expect(Math.max(...freeStarts)).toBeLessThan(Math.max(...times));
    // 5 per second, allowing one slot of scheduling jitter.
    expect(busiestWindow(times, 1000)).toBeLessThanOrEqual(6);
    // The slots are 200 ms apart: 20 attempts cannot start within less than 19 of them.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(3000);
  });

  it('validates the limit, changes it and removes it', async () => {
    const answer = await herald.request(RegisterEndpointDocument, {
      input: { applicationId, url: limitedReceiver.url, rateLimitPerSecond: 0 },
    });
    expect(answer.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'rateLimitPerSecond' },
      message: expect.stringMatching(/rateLimitPerSecond.*1 to 10000/),
    });
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { applicationId, url: limitedReceiver.url } });
    const id = registerEndpoint.endpoint.id;
    expect((await herald.call(UpdateEndpointDocument, { id, input: { rateLimitPerSecond: 50 } })).updateEndpoint.rateLimitPerSecond).toBe(
      50,
    );
    expect((await herald.call(UpdateEndpointDocument, { id, input: { description: 'x' } })).updateEndpoint.rateLimitPerSecond).toBe(50);
    const both = await herald.request(UpdateEndpointDocument, { id, input: { rateLimitPerSecond: 5, clearRateLimit: true } });
    expect(both.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(
      (await herald.call(UpdateEndpointDocument, { id, input: { clearRateLimit: true } })).updateEndpoint.rateLimitPerSecond,
    ).toBeNull();
  });
});
