import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type FormattedExecutionResult, print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import { vi } from 'vitest';
import WebSocket from 'ws';
import { type HeraldConfig, loadConfig } from '../../src/config';
import { SharedSubscriptions } from '../../src/graphql/shared-subscriptions';
import { type HeraldHandle, type HeraldRoles, startHerald } from '../../src/herald';
import type { DeliveryNetwork } from '../../src/delivery/http-client';
import type { Clock } from '../../src/lib/clock';
import { createLogger } from '../../src/lib/logger';
import { ApiKeyService, type CreateApiKey } from '../../src/modules/api-keys/api-key.service';
import { waitUntil } from './wait';

export { waitUntil };

/** One fixed key for every Herald a test starts, so processes sharing a database read each other's secrets. */
export const TEST_ENCRYPTION_KEY = 'aGVyYWxkLXRlc3QtZW5jcnlwdGlvbi1rZXktMzJieXQ=';

/**
 * Test receivers listen on loopback, which production refuses: tests allow it explicitly, the way an
 * operator would, through SSRF_ALLOW_CIDRS.
 */
export const TEST_SSRF_ALLOW_CIDRS = '127.0.0.0/8,::1/128';

/** Settings that make retries and polling quick enough for tests; each test may override them. */
export function testConfig(databaseUrl: string, overrides: Partial<HeraldConfig> = {}): HeraldConfig {
  const base = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    LOG_LEVEL: 'info',
    HERALD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    SSRF_ALLOW_CIDRS: TEST_SSRF_ALLOW_CIDRS,
  });
  return {
    ...base,
    // Most test files make many requests with one key in a burst; the rate-limit test turns it on.
    rateLimit: { perMinute: 0, burst: 1 },
    databaseUrl,
    worker: { ...base.worker, concurrency: 8, pollIntervalMs: 100, heartbeatIntervalMs: 1000, deadAfterMs: 5000 },
    delivery: {
      ...base.delivery,
      timeoutMs: 5000,
      throttlePauseMs: 200,
      // The seed preset's shape (5 attempts, exponential), scaled down from 2 s to 100 ms.
      retry: { schedule: { kind: 'exponential', baseMs: 100, factor: 2, maxMs: 2000 }, maxAttempts: 5, maxAgeMs: null, jitter: 0.2 },
    },
    shutdownGraceMs: 5000,
    ...overrides,
  };
}

export interface TestHerald {
  handle: HeraldHandle;
  url: string;
  config: HeraldConfig;
  /** Every log line Herald wrote, as JSON text. */
  logs: string[];
  /** An admin key every request and WebSocket sends unless told otherwise. */
  adminKey: string;
  /** Keys Herald announced as the first admin key (printed to stdout outside tests). */
  announcedKeys: string[];
  /** Sends with the admin key; `headers` may replace `authorization` (an empty value sends none). */
  request<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    headers?: Record<string, string>,
  ): Promise<FormattedExecutionResult<TData>>;
  /** Like `request`, but fails the test on GraphQL errors and returns the data. */
  call<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<TData>;
  /** Like `call`, with another key (null: none). */
  callAs<TData, TVariables>(key: string | null, document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<TData>;
  /** Creates a key directly (an application key when applicationId is set) and returns it. */
  createKey(input: CreateApiKey): Promise<string>;
  /** A graphql-ws client; `connectionParams` replaces the default `{ Authorization: 'Bearer <admin key>' }`. */
  wsClient(connectionParams?: Record<string, unknown>): Client;
  stop(): Promise<void>;
}

export async function startTestHerald(
  databaseUrl: string,
  options: { roles?: HeraldRoles; config?: Partial<HeraldConfig>; clock?: Clock; network?: DeliveryNetwork } = {},
): Promise<TestHerald> {
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    pretty: false,
    destination: { write: (line: string) => void logs.push(line) },
  });
  const config = testConfig(databaseUrl, options.config);
  const announcedKeys: string[] = [];
  const handle = await startHerald({
    config,
    logger,
    roles: options.roles ?? { api: true, worker: true },
    clock: options.clock,
    network: options.network,
    announceAdminKey: (key) => announcedKeys.push(key),
  });
  const url = handle.url ?? '';
  const clients: Client[] = [];
  const createKey = async (input: CreateApiKey) => (await new ApiKeyService(handle.database.orm.em.fork()).create(input)).key;
  const adminKey = await createKey({ name: 'test admin key' });

  const request: TestHerald['request'] = async (document, variables, headers = {}) => {
    const merged: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` };
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() === 'authorization') delete merged.authorization;
      if (value !== '') merged[name.toLowerCase()] = value;
    }
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: merged,
      body: JSON.stringify({ query: print(document), variables }),
    });
    return (await response.json()) as FormattedExecutionResult<never>;
  };
  const callAs: TestHerald['callAs'] = async (key, document, variables) => {
    const result = await request(document, variables, { authorization: key ? `Bearer ${key}` : '' });
    if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    return result.data as never;
  };

  return {
    handle,
    url,
    config,
    logs,
    adminKey,
    announcedKeys,
    request,
    call: (document, variables) => callAs(adminKey, document, variables),
    callAs,
    createKey,
    wsClient: (connectionParams = { Authorization: `Bearer ${adminKey}` }) => {
      const client = createClient({
        url: `${url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams,
        lazy: false,
        retryAttempts: 0,
      });
      clients.push(client);
      return client;
    },
    stop: async () => {
      await Promise.all(clients.map((client) => client.dispose()));
      await handle.stop();
    },
  };
}

/** Collects what a subscription yields, with a way to wait for a condition. */
export class SubscriptionRecorder<T> {
  readonly results: FormattedExecutionResult<T>[] = [];
  readonly ready: Promise<void>;
  private listeners: Array<() => void> = [];
  private unsubscribe: () => void = () => undefined;

  constructor(client: Client, document: TypedDocumentNode<T, Record<string, unknown>>, variables: Record<string, unknown> = {}) {
    this.ready = new Promise((resolve) => {
      this.unsubscribe = client.subscribe<T>(
        { query: print(document), variables },
        {
          next: (value) => {
            this.results.push(value as FormattedExecutionResult<T>);
            for (const listener of this.listeners) listener();
          },
          // graphql-ws reports an operation's refusal as the array of its GraphQL errors.
          error: (error) =>
            this.results.push({
              errors: Array.isArray(error) ? (error as FormattedExecutionResult<T>['errors']) : [{ message: String(error) }],
            } as FormattedExecutionResult<T>),
          complete: () => undefined,
        },
      );
      // graphql-ws has no "subscribed" acknowledgement. A query sent after the subscribe message on the
      // same socket is answered once the server has taken both: the server starts handling messages in the
      // order they arrive, and the subscribe message registers its operation on the way to that answer.
      const done = () => resolve();
      client.subscribe({ query: '{ __typename }' }, { next: () => undefined, error: done, complete: done });
    });
  }

  get data(): T[] {
    return this.results.flatMap((result) => (result.data ? [result.data] : []));
  }

  async waitFor(predicate: (data: T[]) => boolean, timeoutMs = 15_000): Promise<T[]> {
    if (predicate(this.data)) return this.data;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`subscription condition not met in ${timeoutMs} ms; got ${JSON.stringify(this.results)}`)),
        timeoutMs,
      );
      const check = () => {
        if (predicate(this.data)) {
          clearTimeout(timer);
          this.listeners = this.listeners.filter((listener) => listener !== check);
          resolve();
        }
      };
      this.listeners.push(check);
    });
    return this.data;
  }

  stop(): void {
    this.unsubscribe();
  }
}

/**
 * Server-side subscription starts of the Herald running in this process, for clients the test does not drive
 * itself (a spawned `herald listen`, the SDK): `started(n)` resolves once n shared subscriptions listen to the
 * change feed, so an event published after it reaches them.
 */
export function watchSubscriptionStarts(): { started(count: number, timeoutMs?: number): Promise<void>; stop(): void } {
  const spy = vi.spyOn(SharedSubscriptions.prototype, 'subscribe');
  return {
    started: async (count, timeoutMs = 15_000) => {
      await waitUntil(
        async () => spy.mock.results.length,
        (calls) => calls >= count,
        timeoutMs,
        10,
      );
      await Promise.all(spy.mock.results.slice(0, count).map((result) => result.value));
    },
    stop: () => spy.mockRestore(),
  };
}
