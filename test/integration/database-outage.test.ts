import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type FormattedExecutionResult, print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { EventPublishedDocument, PublishEventDocument } from '../../src/sdk/generated/graphql';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald, waitUntil } from '../helpers/herald';

interface HttpAnswer {
  status: number;
  retryAfter: string | null;
  requestId: string | null;
  text: string;
  body: FormattedExecutionResult<Record<string, unknown>>;
}

/**
 * A database that goes away is Herald's outage, not the client's mistake: SERVICE_UNAVAILABLE (HTTP 503 with
 * Retry-After, the same code over graphql-ws), a message without the database's address, and one error line in
 * Herald's log that says the database is unavailable. The outage is this file's own database refusing connections
 * (ALLOW_CONNECTIONS false) and losing its backends, so the shared test server and other files are untouched.
 */
describe('database outage: SERVICE_UNAVAILABLE, not the client fault', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let databaseName: string;
  let databasePort: string;
  let admin: pg.Client;
  let herald: TestHerald;

  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    databaseName = url.pathname.slice(1);
    databasePort = url.port;
    admin = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await admin.connect();
    herald = await startTestHerald(database.url, { roles: { api: true, worker: false } });
  });
  afterAll(async () => {
    await admin?.query(`alter database ${databaseName} with allow_connections true`).catch(() => undefined);
    await herald?.stop();
    await admin?.end();
    await database?.drop();
  });

  /**
   * New connections are refused and the open ones are cut. `spareChangeFeed` keeps the LISTEN connection: the
   * verified-key cache stays trusted, so a key used just before passes authentication and the resolver meets the outage.
   */
  async function cutOff(options: { spareChangeFeed: boolean }): Promise<void> {
    await admin.query(`alter database ${databaseName} with allow_connections false`);
    await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = $1 and pid <> pg_backend_pid() and not ($2 and query ilike 'listen %')`,
      [databaseName, options.spareChangeFeed],
    );
  }

  async function restore(): Promise<void> {
    await admin.query(`alter database ${databaseName} with allow_connections true`);
  }

  // Each test starts with the change feed listening again (it reconnects with backoff), so keys are cached as verified.
  beforeEach(async () => {
    await waitUntil(
      () => admin.query(`select 1 from pg_stat_activity where datname = $1 and query ilike 'listen %'`, [databaseName]),
      (result) => result.rowCount === 1,
      15_000,
      100,
    );
  });

  async function post<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables, key: string) {
    const response = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const text = await response.text();
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      requestId: response.headers.get('x-request-id'),
      text,
      body: JSON.parse(text),
    } as HttpAnswer;
  }

  const publish = (key: string, orderId: string) =>
    post(PublishEventDocument, { input: { type: 'order.created', data: { orderId } } }, key);

  /** The refusal a client gets: 503, Retry-After, SERVICE_UNAVAILABLE, and nothing about where the database is. */
  function expectUnavailable(answer: HttpAnswer): void {
    expect(answer.status, answer.text).toBe(503);
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    expect(answer.body.errors, answer.text).toHaveLength(1);
    const error = answer.body.errors![0]!;
    expect(error.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.extensions?.retryAfterSeconds).toBe(Number(answer.retryAfter));
    expect(error.message).toMatch(/database is unavailable.*retry/i);
    expectNothingInternal(answer.text);
  }

  function expectNothingInternal(text: string): void {
    expect(text).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|Context creation failed|accepting connections/i);
    expect(text).not.toContain(databasePort);
    expect(text).not.toContain(databaseName);
  }

  /** Herald's log lines since `from`, parsed. */
  const logsSince = (from: number) => herald.logs.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>);

  function expectOneOutageLine(from: number): Record<string, unknown> {
    const lines = logsSince(from);
    const outages = lines.filter((line) => line.level === 50 && /database unavailable/.test(String(line.msg)));
    expect(outages, JSON.stringify(lines)).toHaveLength(1);
    expect(lines.filter((line) => /unexpected error/.test(String(line.msg)))).toEqual([]);
    return outages[0]!;
  }

  /** One operation over graphql-ws: what it yielded first, or its errors. */
  function overSocket(client: Client, query: string, variables: Record<string, unknown>): Promise<FormattedExecutionResult> {
    return new Promise((resolve, reject) => {
      const stop = client.subscribe<Record<string, unknown>>(
        { query, variables },
        {
          next: (value) => {
            stop();
            resolve(value as FormattedExecutionResult);
          },
          error: (error) => (Array.isArray(error) ? resolve({ errors: error }) : reject(error as Error)),
          complete: () => undefined,
        },
      );
    });
  }

  it('a key checked while the database is gone: HTTP 503 from context creation, logged once as an outage', async () => {
    // Never used: not in the verified-key cache, so authenticating it has to read api_keys.
    const freshKey = await herald.createKey({ name: 'first used during the outage' });
    await cutOff({ spareChangeFeed: false });
    try {
      const from = herald.logs.length;
      expectUnavailable(await publish(freshKey, 'O-1'));
      expect(expectOneOutageLine(from).path).toBeUndefined();

      // The readiness probe says the same, as it did before.
      const ready = await fetch(`${herald.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await restore();
    }
    // Back: the same key publishes.
    const answer = await waitUntil(
      () => publish(freshKey, 'O-2'),
      (result) => result.status === 200,
      15_000,
      200,
    );
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.publishEvent).toMatchObject({ type: 'order.created' });
  });

  it('a resolver that meets the outage (the key still verified): HTTP 503 from the operation, logged once with its path', async () => {
    const key = await herald.createKey({ name: 'verified before the outage' });
    // Twice: the first may have raced the change feed's LISTEN and not been cached.
    expect((await publish(key, 'W-1')).status).toBe(200);
    expect((await publish(key, 'W-1b')).status).toBe(200);
    await cutOff({ spareChangeFeed: true });
    try {
      const from = herald.logs.length;
      const answer = await publish(key, 'W-2');
      expectUnavailable(answer);
      const line = expectOneOutageLine(from);
      expect(line.path).toEqual(['publishEvent']);
      // The line names the request (the id echoed to the client) and the key's id, never the key.
      expect(answer.requestId).toBeTruthy();
      expect(line).toMatchObject({ requestId: answer.requestId, apiKey: expect.stringMatching(/^key_/) });
      expect(JSON.stringify(line)).not.toContain(key);
    } finally {
      await restore();
    }
    await waitUntil(
      () => publish(key, 'W-3'),
      (result) => result.status === 200,
      15_000,
      200,
    );
  });

  it('over graphql-ws: an operation and a subscription get SERVICE_UNAVAILABLE, a new connection is closed with 1013', async () => {
    const key = await herald.createKey({ name: 'graphql-ws during the outage' });
    // Never used: a connection with it during the outage has to read api_keys.
    const lateKey = await herald.createKey({ name: 'first used by a connection during the outage' });
    const client = herald.wsClient({ Authorization: `Bearer ${key}` });
    const publishOverSocket = (orderId: string) =>
      overSocket(client, print(PublishEventDocument), { input: { type: 'order.created', data: { orderId } } });
    expect((await publishOverSocket('S-1')).errors).toBeUndefined();

    // The key is verified and the change feed is heard: the mutation's resolver meets the outage.
    await cutOff({ spareChangeFeed: true });
    let from = herald.logs.length;
    const duringOutage = await publishOverSocket('S-2');
    expect(duringOutage.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5 });
    expectNothingInternal(JSON.stringify(duringOutage));
    expect(expectOneOutageLine(from).transport).toBe('graphql-ws');

    // With the change feed gone too, the key is checked again for every operation: the subscription is refused.
    from = herald.logs.length;
    await cutOff({ spareChangeFeed: false });
    // Once the feed has noticed (it forgets every verified key then; its retry comes 100 ms later and is refused).
    await waitUntil(
      async () => logsSince(from),
      (lines) => lines.some((line) => /change feed could not connect/.test(String(line.msg))),
      15_000,
      50,
    );
    from = herald.logs.length;
    const subscription = await overSocket(client, print(EventPublishedDocument), {});
    expect(subscription.errors?.[0]?.extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 5 });
    expectNothingInternal(JSON.stringify(subscription));
    expectOneOutageLine(from);

    // A connection whose key cannot be checked is closed with "try again later", which graphql-ws clients retry.
    from = herald.logs.length;
    const late = createClient({
      url: `${herald.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { Authorization: `Bearer ${lateKey}` },
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => undefined,
    });
    const closed = await new Promise<{ code: number; reason: string }>((resolve) => late.on('closed', (event) => resolve(event as never)));
    await late.dispose();
    expect(closed.code).toBe(1013);
    expect(closed.reason).toMatch(/^SERVICE_UNAVAILABLE: /);
    expectNothingInternal(closed.reason);
    expectOneOutageLine(from);

    await restore();
    const back = await waitUntil(
      () => publishOverSocket('S-3'),
      (result) => !result.errors,
      15_000,
      200,
    );
    expect(back.data).toMatchObject({ publishEvent: { type: 'order.created' } });
  });
});
