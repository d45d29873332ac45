import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type FormattedExecutionResult, print } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { type HeraldConfig, loadConfig } from '../../src/config';
import { type HeraldHandle, type HeraldRoles, startHerald } from '../../src/herald';
import type { Clock } from '../../src/lib/clock';
import { createLogger } from '../../src/lib/logger';

/** Settings that make retries and polling quick enough for tests; each test may override them. */
export function testConfig(databaseUrl: string, overrides: Partial<HeraldConfig> = {}): HeraldConfig {
  const base = loadConfig({ NODE_ENV: 'test', PORT: '0', LOG_LEVEL: 'info' });
  return {
    ...base,
    databaseUrl,
    worker: { ...base.worker, concurrency: 8, pollIntervalMs: 100 },
    delivery: {
      ...base.delivery,
      timeoutMs: 5000,
      backoff: { baseMs: 100, factor: 2, maxMs: 2000, jitter: 0.2 },
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
  request<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables?: TVariables,
    headers?: Record<string, string>,
  ): Promise<FormattedExecutionResult<TData>>;
  /** Like `request`, but fails the test on GraphQL errors and returns the data. */
  call<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables?: TVariables): Promise<TData>;
  wsClient(): Client;
  stop(): Promise<void>;
}

export async function startTestHerald(
  databaseUrl: string,
  options: { roles?: HeraldRoles; config?: Partial<HeraldConfig>; clock?: Clock } = {},
): Promise<TestHerald> {
  const logs: string[] = [];
  const logger = createLogger({
    level: 'debug',
    pretty: false,
    destination: { write: (line: string) => void logs.push(line) },
  });
  const config = testConfig(databaseUrl, options.config);
  const handle = await startHerald({ config, logger, roles: options.roles ?? { api: true, worker: true }, clock: options.clock });
  const url = handle.url ?? '';
  const clients: Client[] = [];

  const request: TestHerald['request'] = async (document, variables, headers = {}) => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: print(document), variables }),
    });
    return (await response.json()) as FormattedExecutionResult<never>;
  };

  return {
    handle,
    url,
    config,
    logs,
    request,
    call: async (document, variables) => {
      const result = await request(document, variables);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as never;
    },
    wsClient: () => {
      const client = createClient({
        url: `${url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
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
          error: (error) => this.results.push({ errors: [{ message: String(error) }] } as FormattedExecutionResult<T>),
          complete: () => undefined,
        },
      );
      // graphql-ws has no "subscribed" acknowledgement; the server registers the operation as soon as
      // it receives it, so one round trip over the same socket is enough.
      setTimeout(resolve, 300);
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

export async function waitUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
