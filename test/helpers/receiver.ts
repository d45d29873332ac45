import http from 'node:http';
import { afterAll } from 'vitest';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, byte for byte as received. */
  body: string;
  receivedAt: number;
}

export interface ReceiverReply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  delayMs?: number;
  /** Destroy the socket instead of answering. */
  reset?: boolean;
}

export type ReceiverBehaviour = (request: ReceivedRequest, index: number) => ReceiverReply;

/**
 * A real HTTP receiver on 127.0.0.1 (port 0) that records every request and answers as the test says.
 */
export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Requests being answered now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  private behaviour: ReceiverBehaviour = () => ({ status: 200, body: '{"received":true}' });
  private waiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly server = http.createServer((req, res) => void this.handle(req, res));

  static async start(behaviour?: ReceiverBehaviour): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    if (behaviour) receiver.behaviour = behaviour;
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/webhooks`;
  }

  respondWith(behaviour: ReceiverBehaviour): void {
    this.behaviour = behaviour;
  }

  /** Resolves when at least `count` requests have arrived; fails after `timeoutMs`. */
  async waitForRequests(count: number, timeoutMs = 15_000): Promise<ReceivedRequest[]> {
    if (this.requests.length >= count) return this.requests;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`receiver got ${this.requests.length} of ${count} requests within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
    return this.requests;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: ReceivedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      receivedAt: Date.now(),
    };
    const index = this.requests.length;
    this.requests.push(request);
    this.waiters = this.waiters.filter((waiter) => {
      if (this.requests.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    try {
      const reply = this.behaviour(request, index);
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
      if (reply.reset) {
        req.socket.destroy();
        return;
      }
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      await new Promise<void>((resolve) => res.end(reply.body ?? '', resolve));
    } finally {
      this.inFlight--;
    }
  }
}

/**
 * Starts receivers for a test file's suite and closes them all when it ends: call once in a `describe` body, then
 * `const receiver = await start(behaviour)` in its tests.
 */
export function receiversOfSuite(): (behaviour?: ReceiverBehaviour) => Promise<WebhookReceiver> {
  const started: WebhookReceiver[] = [];
  afterAll(async () => {
    await Promise.all(started.map((receiver) => receiver.close()));
  });
  return async (behaviour) => {
    const receiver = await WebhookReceiver.start(behaviour);
    started.push(receiver);
    return receiver;
  };
}
