import { Agent } from 'undici';
import { notFoundLookup } from '../helpers/dns';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AttemptErrorKind } from '../../src/delivery/attempt-outcome';
import { type PostOptions, WebhookHttpClient } from '../../src/delivery/http-client';

/** Every server in this file listens on 127.0.0.1, port 0, and nowhere else. */
const servers: net.Server[] = [];

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function listen(server: net.Server): Promise<string> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** An HTTP server that records each request (body included) and then runs `respond`. */
async function receiver(
  respond: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      respond(req, res);
    });
  });
  return { url: await listen(server), received };
}

let client: WebhookHttpClient;
beforeAll(() => {
  client = new WebhookHttpClient();
});
afterEach(() => {
  for (const server of servers.splice(0)) {
    if (server instanceof http.Server) server.closeAllConnections();
    server.close();
  }
});
afterAll(async () => {
  await client.close();
});

const post = (url: string, overrides: Partial<PostOptions> = {}) =>
  client.post({
    url,
    headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
    body: '{"hello":"wörld"}',
    timeoutMs: 2000,
    responseBodyMaxBytes: 1024,
    ...overrides,
  });

describe('WebhookHttpClient.post', () => {
  it('POSTs the exact body and headers and reports a 2xx as delivered', async () => {
    const { url, received } = await receiver((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('thanks');
    });
    const outcome = await post(`${url}/hooks?x=1`);
    expect(outcome).toEqual({
      ok: true,
      statusCode: 200,
      responseBody: 'thanks',
      responseBodyTruncated: false,
      durationMs: expect.any(Number),
      errorKind: null,
      errorMessage: null,
      retryAfter: null,
    });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(0);
    expect(received).toHaveLength(1);
    expect(received[0]!.method).toBe('POST');
    expect(received[0]!.url).toBe('/hooks?x=1');
    expect(received[0]!.body).toBe('{"hello":"wörld"}');
    expect(received[0]!.headers['content-type']).toBe('application/json');
    expect(received[0]!.headers['x-custom']).toBe('yes');
    expect(received[0]!.headers['content-length']).toBe(String(Buffer.byteLength('{"hello":"wörld"}')));
  });

  it.each([201, 202, 204, 299])('treats %i as delivered', async (status) => {
    const { url } = await receiver((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    const outcome = await post(url);
    expect(outcome.ok).toBe(true);
    expect(outcome.statusCode).toBe(status);
    expect(outcome.responseBody).toBe('');
    expect(outcome.errorKind).toBeNull();
  });

  it('reports a 500 as HTTP_STATUS with the response body captured', async () => {
    const { url } = await receiver((_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"database on fire"}');
    });
    const outcome = await post(url);
    expect(outcome.ok).toBe(false);
    expect(outcome.statusCode).toBe(500);
    expect(outcome.errorKind).toBe(AttemptErrorKind.HTTP_STATUS);
    expect(outcome.responseBody).toBe('{"error":"database on fire"}');
    expect(outcome.responseBodyTruncated).toBe(false);
    expect(outcome.errorMessage).toBe('The endpoint answered HTTP 500; only 2xx counts as delivered.');
  });

  it.each([400, 404, 410, 429, 503])('reports %i as HTTP_STATUS', async (status) => {
    const { url } = await receiver((_req, res) => {
      res.writeHead(status);
      res.end('no');
    });
    const outcome = await post(url);
    expect(outcome).toMatchObject({ ok: false, statusCode: status, errorKind: AttemptErrorKind.HTTP_STATUS, responseBody: 'no' });
  });

  it.each([301, 302, 303, 307, 308])('does not follow a %i redirect: the target receives nothing', async (status) => {
    const target = await receiver((_req, res) => res.end('should never be reached'));
    const redirecting = await receiver((_req, res) => {
      res.writeHead(status, { location: `${target.url}/elsewhere` });
      res.end('moved');
    });
    const outcome = await post(redirecting.url);
    expect(redirecting.received).toHaveLength(1);
    expect(outcome.ok).toBe(false);
    expect(outcome.statusCode).toBe(status);
    expect(outcome.errorKind).toBe(AttemptErrorKind.HTTP_STATUS);
    expect(outcome.errorMessage).toMatch(/redirect/);
    expect(outcome.errorMessage).toMatch(/not followed/);
    expect(outcome.responseBody).toBe('moved');
    // A sentinel request of our own, sent after the outcome: a (wrongly) followed request would be received first.
    await (await fetch(`${target.url}/sentinel`)).text();
    expect(target.received.map((request) => request.url)).toEqual(['/sentinel']);
  });

  it('caps the captured response body at responseBodyMaxBytes and flags it truncated', async () => {
    const { url } = await receiver((_req, res) => {
      res.writeHead(500);
      res.end('x'.repeat(5000));
    });
    const outcome = await post(url, { responseBodyMaxBytes: 100 });
    expect(outcome.responseBody).toBe('x'.repeat(100));
    expect(outcome.responseBodyTruncated).toBe(true);
    expect(outcome.errorKind).toBe(AttemptErrorKind.HTTP_STATUS);
  });

  it('does not flag a body of exactly the maximum size as truncated', async () => {
    const { url } = await receiver((_req, res) => res.end('y'.repeat(100)));
    const outcome = await post(url, { responseBodyMaxBytes: 100 });
    expect(outcome.responseBody).toBe('y'.repeat(100));
    expect(outcome.responseBodyTruncated).toBe(false);
    expect(outcome.ok).toBe(true);
  });

  it('caps a body that arrives in many small chunks', async () => {
    const { url } = await receiver((_req, res) => {
      res.writeHead(200);
      let sent = 0;
      const tick = () => {
        if (sent >= 20 || res.destroyed) return res.end();
        res.write('0123456789', () => setImmediate(tick));
        sent++;
      };
      tick();
    });
    const outcome = await post(url, { responseBodyMaxBytes: 35 });
    expect(outcome.responseBody).toBe('0123456789'.repeat(4).slice(0, 35));
    expect(outcome.responseBodyTruncated).toBe(true);
  });

  it('cuts off a receiver streaming 50 MB quickly, without reading it all', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'z');
    const total = 50 * 1024 * 1024;
    let written = 0;
    let connectionClosed = false;
    const { url } = await receiver((req, res) => {
      req.socket.on('close', () => {
        connectionClosed = true;
      });
      res.writeHead(200, { 'content-length': String(total) });
      const pump = () => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (written >= total) res.end();
      };
      pump();
    });
    const started = Date.now();
    const outcome = await post(url, { responseBodyMaxBytes: 64 * 1024 + 10, timeoutMs: 5000 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(outcome.ok).toBe(true);
    expect(outcome.responseBodyTruncated).toBe(true);
    expect(Buffer.byteLength(outcome.responseBody!)).toBe(64 * 1024 + 10);
    // The client dropped the connection: the server stops well short of 50 MB.
    await expect.poll(() => connectionClosed, { timeout: 2000, interval: 10 }).toBe(true);
    expect(written).toBeLessThan(total / 2);
  });

  it('times out a receiver that never answers as TIMEOUT, close to timeoutMs', async () => {
    const { url } = await receiver(() => undefined);
    const started = Date.now();
    const outcome = await post(url, { timeoutMs: 200 });
    const elapsed = Date.now() - started;
    expect(outcome).toMatchObject({
      ok: false,
      statusCode: null,
      responseBody: null,
      responseBodyTruncated: false,
      errorKind: AttemptErrorKind.TIMEOUT,
    });
    expect(outcome.errorMessage).toMatch(/timeout/);
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(2000);
    expect(outcome.durationMs).toBeGreaterThanOrEqual(150);
  });

  it('reports a refused connection as CONNECT', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const outcome = await post(`http://127.0.0.1:${port}/`);
    expect(outcome).toMatchObject({ ok: false, statusCode: null, responseBody: null, errorKind: AttemptErrorKind.CONNECT });
    expect(outcome.errorMessage).toMatch(/ECONNREFUSED/);
  });

  it('reports a connection destroyed before the response as RESET', async () => {
    const { url } = await receiver((req) => req.socket.destroy());
    const outcome = await post(url);
    expect(outcome).toMatchObject({ ok: false, statusCode: null, errorKind: AttemptErrorKind.RESET });
  });

  it('keeps what arrived when the connection drops mid-body, flagged truncated', async () => {
    const { url } = await receiver((req, res) => {
      res.writeHead(502, { 'content-length': '1000' });
      // The receiver's behaviour, not a wait of the test: the partial body goes out before the socket dies.
      res.write('partial', () => setTimeout(() => req.socket.destroy(), 5));
    });
    const outcome = await post(url);
    expect(outcome).toMatchObject({ ok: false, statusCode: 502, responseBody: 'partial', responseBodyTruncated: true });
    expect(outcome.errorKind).toBe(AttemptErrorKind.HTTP_STATUS);
  });

  it('reports a non-HTTP answer as INVALID_RESPONSE', async () => {
    const url = await listen(
      net.createServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
      }),
    );
    const outcome = await post(url);
    expect(outcome).toMatchObject({ ok: false, statusCode: null, errorKind: AttemptErrorKind.INVALID_RESPONSE });
  });

  it('reports an unresolvable host as DNS', async () => {
    // The lookup is injected: tests never query a real DNS server (it is not on loopback here).
    const failingLookup = new WebhookHttpClient(new Agent({ connect: { lookup: notFoundLookup } }));
    try {
      const outcome = await failingLookup.post({
        url: 'http://herald-http-client-test.invalid/hook',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        timeoutMs: 2000,
        responseBodyMaxBytes: 1024,
      });
      expect(outcome).toMatchObject({ ok: false, statusCode: null, errorKind: AttemptErrorKind.DNS });
    } finally {
      await failingLookup.close();
    }
  });

  it('never throws, even for a URL undici rejects', async () => {
    const outcome = await post('not a url');
    expect(outcome.ok).toBe(false);
    expect(outcome.statusCode).toBeNull();
    expect(outcome.errorKind).not.toBeNull();
  });

  it('reuses a keep-alive connection for consecutive deliveries to one receiver', async () => {
    const ports = new Set<number>();
    const { url } = await receiver((req, res) => {
      ports.add(req.socket.remotePort!);
      res.end('ok');
    });
    for (let i = 0; i < 10; i++) expect((await post(url)).ok).toBe(true);
    // undici's pool may open a second socket while the first is being released; it must not open one per delivery.
    expect(ports.size).toBeLessThanOrEqual(3);
  });

  it('handles many concurrent deliveries', async () => {
    // A receiver that takes 10 ms to answer, so that the 30 requests overlap.
    const { url, received } = await receiver((_req, res) => setTimeout(() => res.end('ok'), 10));
    const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => post(url, { body: `{"i":${i}}` })));
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    expect(received.map((r) => r.body).sort()).toEqual(Array.from({ length: 30 }, (_, i) => `{"i":${i}}`).sort());
  });
});
