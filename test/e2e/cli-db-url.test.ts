import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { type HeraldProcess, exitOf, graphqlRequest, runHerald, spawnHerald } from '../helpers/cli';
import { WebhookReceiver } from '../helpers/receiver';

/** docs/publishing.md: a SQL producer finds the embedded database with `herald db url`, as written there. */
describe('herald db url: where a SQL producer connects', () => {
  let dataDir: string;
  let receiver: WebhookReceiver;
  let herald: HeraldProcess | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-db-url-'));
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    herald?.child.kill('SIGKILL');
    await receiver?.close();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('prints DATABASE_URL when it is set, and says what to do when no embedded server runs', async () => {
    const configured = await runHerald(['db', 'url'], { DATABASE_URL: 'postgres://producer:pw@127.0.0.1:5999/app' });
    expect(configured).toMatchObject({ code: 0, stdout: 'postgres://producer:pw@127.0.0.1:5999/app\n' });

    const none = await runHerald(['db', 'url'], { DATABASE_URL: '', HERALD_DATA_DIR: dataDir });
    expect(none.code).toBe(1);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('No embedded PostgreSQL is running');
    expect(none.stderr).toContain('npm start');

    const wrong = await runHerald(['db', 'uri'], { DATABASE_URL: '', HERALD_DATA_DIR: dataDir });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('db url');
  });

  it(
    'with the embedded PostgreSQL: the start log shows the URL without its password, `db url` prints it whole, and herald.publish_event through it is delivered',
    { timeout: 180_000 },
    async () => {
      herald = spawnHerald('start', { DATABASE_URL: '', HERALD_DATA_DIR: dataDir });
      const url = await herald.url;
      const key = await herald.adminKey;
      const logged = JSON.parse(await herald.waitForLog(/herald db url/)) as { url: string };
      expect(logged.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/herald$/);

      const printed = await runHerald(['db', 'url'], { DATABASE_URL: '', HERALD_DATA_DIR: dataDir });
      expect(printed.code).toBe(0);
      const databaseUrl = printed.stdout.trim();
      expect(new URL(databaseUrl).password).not.toBe('');
      expect(databaseUrl.replace(`:${new URL(databaseUrl).password}@`, '@')).toBe(logged.url);
      // The password is in no log line.
      expect(herald.output.join('\n')).not.toContain(new URL(databaseUrl).password);

      await graphqlRequest(url, key, RegisterEndpointDocument, { input: { url: receiver.url, eventTypes: ['order.*'] } });
      const producer = new pg.Client({ connectionString: databaseUrl });
      await producer.connect();
      let eventId: string;
      try {
        await producer.query('begin');
        const result = await producer.query<{ id: string }>(`select herald.publish_event('order.created', $1::json) as id`, [
          JSON.stringify({ orderId: 'SQL-1' }),
        ]);
        await producer.query('commit');
        eventId = result.rows[0]!.id;
      } finally {
        await producer.end();
      }
      const [request] = await receiver.waitForRequests(1, 60_000);
      expect(request!.headers['webhook-id']).toBe(eventId);

      // Asking did not disturb the running server: the API still publishes and delivers.
      await graphqlRequest(url, key, PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'API-1' } } });
      await receiver.waitForRequests(2, 60_000);

      herald.child.kill('SIGTERM');
      expect(await exitOf(herald)).toEqual({ code: 0, signal: null, unclean: [] });
    },
  );
});
