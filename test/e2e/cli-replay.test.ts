import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateApplicationDocument, PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { runHerald } from '../helpers/cli';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

describe('`herald replay`: bulk redrive from the command line (child process)', { timeout: 90_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  let failing = true;
  let endpointId: string;
  let otherEndpointId: string;
  let env: Record<string, string>;
  const eventIds: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const base = testConfig(database.url).delivery;
    herald = await startTestHerald(database.url, {
      config: { delivery: { ...base, retry: { ...base.retry, maxAttempts: 1 }, disableAfterDeadLetters: 0 }, replay: { ratePerSecond: 2 } },
    });
    receiver = await WebhookReceiver.start(() => (failing ? { status: 503, body: 'busy' } : { status: 200, body: 'ok' }));
    const applicationId = (await herald.call(CreateApplicationDocument, { input: { name: 'cli replay' } })).createApplication.id;
    const register = async (eventTypes: string[]) =>
      (await herald.call(RegisterEndpointDocument, { input: { applicationId, url: receiver.url, eventTypes } })).registerEndpoint.endpoint
        .id;
    endpointId = await register(['billing.*']);
    otherEndpointId = await register(['audit.*']);
    for (let i = 0; i < 5; i++) {
      const { publishEvent } = await herald.call(PublishEventDocument, { input: { applicationId, type: 'billing.failed', data: { i } } });
      eventIds.push(publishEvent.id);
    }
    await herald.call(PublishEventDocument, { input: { applicationId, type: 'audit.logged', data: {} } });
    await waitUntil(
      () => query<{ n: number }>(database.url, `select count(*)::int as n from deliveries where status = 'DEAD'`),
      (rows) => rows[0]!.n === 6,
    );
    env = { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey };
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it('--dry-run counts the matching dead letters and replays nothing', async () => {
    const result = await runHerald(['replay', '--endpoint', endpointId, '--error-kind', 'http_status', '--dry-run'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('5 dead letter(s) match; nothing was replayed (dry run).');
    const future = await runHerald(['replay', '--since', new Date(Date.now() + 3_600_000).toISOString(), '--dry-run', '--json'], env);
    expect(JSON.parse(future.stdout)).toMatchObject({ status: 'DRY_RUN', matched: 0, id: null });
  });

  it('re-queues them, prints the progress as it goes and exits 0 when completed', async () => {
    failing = false;
    const before = receiver.requests.length;
    const result = await runHerald(['replay', '--endpoint', endpointId, '--event-type', 'billing.failed'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Replay rpl_[0-9a-z]+: 5 dead letter\(s\) matched\.$/);
    // At 2 per second the batches come 1 s apart: the progress is seen between start and end.
    const progress = lines.filter((line) => line.startsWith('replayed '));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toBe('replayed 5/5 (100%)');
    expect(progress.every((line) => /^replayed [0-5]\/5 \(\d+%\)$/.test(line))).toBe(true);
    expect(lines.at(-1)).toMatch(/completed: 5 of 5 dead letter\(s\) re-queued\.$/);
    const arrived = await receiver.waitForRequests(before + 5);
    expect(
      arrived
        .slice(before)
        .map((request) => JSON.parse(request.body).id as string)
        .sort(),
    ).toEqual([...eventIds].sort());
    // The other endpoint's dead letter was not part of it.
    const [other] = await query<{ status: string }>(database.url, `select status from deliveries where endpoint_id = $1`, [
      otherEndpointId,
    ]);
    expect(other!.status).toBe('DEAD');
  });

  it('explains a bad time or error kind (exit 2) and a refused filter (exit 1)', async () => {
    const badTime = await runHerald(['replay', '--since', 'yesterday'], env);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toMatch(/--since and --until take an ISO 8601 time/);
    const badKind = await runHerald(['replay', '--error-kind', 'oops'], env);
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(/--error-kind must be one of TIMEOUT, DNS/);
    const backwards = await runHerald(['replay', '--since', '2026-02-01T00:00:00Z', '--until', '2026-01-01T00:00:00Z'], env);
    expect(backwards.code).toBe(1);
    expect(backwards.stderr).toMatch(/Herald refused: "from" .* must be earlier than "to" .*\(BAD_USER_INPUT\)/);
    const unknown = await runHerald(['replay', '--endpoint', 'ep_doesnotexist'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/NOT_FOUND/);
  });
});
