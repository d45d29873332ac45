import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PublishEventDocument } from '../../src/sdk/generated/graphql';
import { print } from 'graphql';
import { createKeyWithCli, exitOf, spawnHerald, type HeraldProcess } from '../helpers/cli';
import { createTestDatabase } from '../helpers/database';
import { waitUntil } from '../helpers/herald';

/**
 * Every line `herald start` writes is one JSON object, through a database outage too: knex, pg pools, graphile-worker,
 * Apollo and graphql-ws go through Herald's logger, no error drags a pg client (its connection string and password)
 * into a line, and graphile-worker's sizing advice, which does not fit Herald's sizing, is not repeated at every start.
 */
describe('log hygiene: herald start with the defaults, through a database outage', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let databaseName: string;
  let admin: pg.Client;
  let herald: HeraldProcess | undefined;
  let key: string;
  let url: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    databaseName = new URL(database.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    // Made beforehand, so `herald start` prints no first-admin-key box (deliberately not a log line).
    key = await createKeyWithCli({ DATABASE_URL: database.url });
    herald = spawnHerald('start', { DATABASE_URL: database.url });
    url = await herald.url;
    await herald.waitForLog(/"thread":"worker".*worker started/);
  }, 120_000);
  afterAll(async () => {
    await admin?.query(`alter database ${databaseName} with allow_connections true`).catch(() => undefined);
    herald?.child.kill('SIGKILL');
    await admin?.end();
    await database?.drop();
  }, 60_000);

  const publish = async (orderId: string) => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: print(PublishEventDocument), variables: { input: { type: 'order.created', data: { orderId } } } }),
    });
    return { status: response.status, text: await response.text() };
  };

  it('writes only JSON lines, and no pg client, while its database goes away and comes back', { timeout: 120_000 }, async () => {
    expect((await publish('L-1')).status).toBe(200);

    // The outage: new connections refused, every open one (the API's, the worker thread's, LISTEN) cut.
    await admin.query(`alter database ${databaseName} with allow_connections false`);
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [
      databaseName,
    ]);
    for (let i = 0; i < 3; i++) expect((await publish(`L-out-${i}`)).status).toBe(503);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    // The worker's heartbeat and the change feed's reconnection have each failed: their lines are in the log.
    await herald!.waitForLog(/worker heartbeat failed/, 30_000);
    await herald!.waitForLog(/change feed could not connect/, 30_000);

    await admin.query(`alter database ${databaseName} with allow_connections true`);
    await waitUntil(
      () => publish('L-back'),
      (answer) => answer.status === 200,
      30_000,
      250,
    );
    await herald!.waitForLog(/change feed reconnected/, 30_000);
    await waitUntil(
      async () => (await fetch(`${url}/readyz`)).status,
      (status) => status === 200,
      30_000,
      250,
    );

    herald!.child.kill('SIGTERM');
    expect((await exitOf(herald!)).code).toBe(0);

    const output = herald!.output;
    const notJson = output.filter((line) => {
      try {
        const parsed: unknown = JSON.parse(line);
        return parsed === null || typeof parsed !== 'object' || Array.isArray(parsed);
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    const password = new URL(database.url).password;
    expect(output.filter((line) => /_connectionString|connectionParameters|_connectionError|"_clientId"/.test(line))).toEqual([]);
    expect(output.filter((line) => line.includes(password))).toEqual([]);

    const lines = output.map((line) => JSON.parse(line) as { level: number; msg?: string; component?: string });
    // The outage is logged as one: an error line per refused operation, none as an unexpected error.
    // (At least the three refused publishes: one polled while the database came back may have been refused too.)
    expect(lines.filter((line) => line.level === 50 && /database unavailable/.test(line.msg ?? '')).length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((line) => /unexpected error/.test(line.msg ?? ''))).toEqual([]);
  });

  it("says why its worker sizing differs from graphile-worker's advice, instead of repeating that advice", () => {
    const lines = herald!.output.map((line) => JSON.parse(line) as { msg?: string });
    expect(lines.filter((line) => /maxPoolSize|job batch size|smaller than (your )?concurrency/.test(line.msg ?? ''))).toEqual([]);
    expect(lines.filter((line) => /^worker sizing: 128 job slots share 64 connections/.test(line.msg ?? ''))).toHaveLength(1);
  });
});
