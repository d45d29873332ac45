import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AttemptErrorKind, classifyNetworkError, isSuccessStatus } from '../../src/delivery/attempt-outcome';
import { notFoundLookup } from '../helpers/dns';

/** Every server in this file listens on 127.0.0.1, port 0, and nowhere else. */
const servers: net.Server[] = [];

async function listen<T extends net.Server>(server: T): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

function closeAll(): void {
  for (const server of servers.splice(0)) {
    if (server instanceof http.Server) server.closeAllConnections();
    server.close();
  }
}

/** A port that was just free on 127.0.0.1 and is now closed, so connecting is refused. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Raw TCP server answering the first request bytes with `payload` and closing. */
function rawServer(payload: string): net.Server {
  return net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.once('data', () => socket.end(payload));
  });
}

let agent: Agent;
beforeAll(() => {
  agent = new Agent({ connections: 4 });
});
afterEach(closeAll);
afterAll(async () => {
  await agent.destroy();
});

/** Runs a real undici POST and returns what it threw (reading the body too), failing if it did not throw. */
async function failure(url: string, options: { timeoutMs?: number; dispatcher?: Agent } = {}): Promise<unknown> {
  try {
    const response = await request(url, {
      method: 'POST',
      body: '{}',
      dispatcher: options.dispatcher ?? agent,
      ...(options.timeoutMs
        ? { signal: AbortSignal.timeout(options.timeoutMs), headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs }
        : {}),
    });
    await response.body.text();
  } catch (error) {
    return error;
  }
  throw new Error(`expected the request to ${url} to fail`);
}

describe('isSuccessStatus', () => {
  it('accepts exactly 200 to 299', () => {
    for (const status of [200, 201, 202, 204, 299]) expect(isSuccessStatus(status)).toBe(true);
    for (const status of [100, 101, 199, 300, 301, 302, 304, 307, 308, 400, 404, 410, 429, 500, 503, 0, -1]) {
      expect(isSuccessStatus(status)).toBe(false);
    }
  });
});

describe('classifyNetworkError with real undici errors on 127.0.0.1', () => {
  it('classifies connection refused on a closed port as CONNECT', async () => {
    const port = await closedPort();
    const result = classifyNetworkError(await failure(`http://127.0.0.1:${port}/`));
    expect(result.kind).toBe(AttemptErrorKind.CONNECT);
    expect(result.message).toMatch(/^Could not connect: .*ECONNREFUSED/);
  });

  it('classifies a socket destroyed before any response as RESET', async () => {
    const port = await listen(http.createServer((req) => req.socket.destroy()));
    const result = classifyNetworkError(await failure(`http://127.0.0.1:${port}/`));
    expect(result.kind).toBe(AttemptErrorKind.RESET);
    expect(result.message).toMatch(/closed before a complete response/);
  });

  it('classifies a socket destroyed in the middle of the response body as RESET', async () => {
    const port = await listen(
      http.createServer((req, res) => {
        res.writeHead(200, { 'content-length': '1000' });
        // The receiver's behaviour, not a wait of the test: the partial body goes out before the socket dies.
        res.write('partial', () => setTimeout(() => req.socket.destroy(), 5));
      }),
    );
    const result = classifyNetworkError(await failure(`http://127.0.0.1:${port}/`));
    expect(result.kind).toBe(AttemptErrorKind.RESET);
  });

  it('classifies a server that never answers as TIMEOUT (abort signal)', async () => {
    const port = await listen(http.createServer(() => undefined));
    const started = Date.now();
    const error = await failure(`http://127.0.0.1:${port}/`, { timeoutMs: 150 });
    expect(Date.now() - started).toBeLessThan(3000);
    const result = classifyNetworkError(error);
    expect(result.kind).toBe(AttemptErrorKind.TIMEOUT);
    expect(result.message).toMatch(/did not answer within the delivery timeout/);
  });

  it("classifies undici's own headers timeout as TIMEOUT", async () => {
    const port = await listen(http.createServer(() => undefined));
    let error: unknown;
    try {
      await request(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}', dispatcher: agent, headersTimeout: 100 });
    } catch (caught) {
      error = caught;
    }
    expect((error as { code?: string }).code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(classifyNetworkError(error).kind).toBe(AttemptErrorKind.TIMEOUT);
  });

  it('classifies an unresolvable .invalid host name as DNS', async () => {
    // The lookup is injected: tests never query a real DNS server (it is not on loopback here).
    const result = classifyNetworkError(await failure('http://herald-unit-test.invalid/', { dispatcher: notFoundAgent }));
    expect(result.kind).toBe(AttemptErrorKind.DNS);
    expect(result.message).toMatch(/^DNS lookup failed: .*herald-unit-test\.invalid/);
  });

  it('classifies a response that is not HTTP as INVALID_RESPONSE', async () => {
    const port = await listen(rawServer('this is not http\r\n\r\n'));
    const error = await failure(`http://127.0.0.1:${port}/`);
    const result = classifyNetworkError(error);
    expect(result.kind).toBe(AttemptErrorKind.INVALID_RESPONSE);
    expect(result.message).toMatch(/^The endpoint sent an invalid HTTP response: /);
  });

  it('classifies an invalid status line or header as INVALID_RESPONSE', async () => {
    const badStatus = await listen(rawServer('HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n'));
    expect(classifyNetworkError(await failure(`http://127.0.0.1:${badStatus}/`)).kind).toBe(AttemptErrorKind.INVALID_RESPONSE);
    const badHeader = await listen(rawServer('HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n'));
    expect(classifyNetworkError(await failure(`http://127.0.0.1:${badHeader}/`)).kind).toBe(AttemptErrorKind.INVALID_RESPONSE);
  });

  it('classifies TLS spoken to a plain-HTTP server as TLS', async () => {
    const port = await listen(http.createServer((_req, res) => res.end('plain')));
    const result = classifyNetworkError(await failure(`https://127.0.0.1:${port}/`));
    expect(result.kind).toBe(AttemptErrorKind.TLS);
    expect(result.message).toMatch(/^TLS handshake failed: /);
  });
});

describe('classifyNetworkError with synthetic errors', () => {
  const withCode = (code: string, message = `failure ${code}`) => Object.assign(new Error(message), { code });

  it.each([
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE',
    'ERR_TLS_HANDSHAKE_TIMEOUT_SOMETHING_ELSE',
    'CERT_REVOKED',
    'EPROTO',
  ])('classifies %s as TLS', (code) => {
    const result = classifyNetworkError(withCode(code, 'certificate problem'));
    expect(result.kind).toBe(AttemptErrorKind.TLS);
    expect(result.message).toBe('TLS handshake failed: certificate problem');
  });

  it('finds a TLS code on the cause of a wrapping error (undici "fetch failed" style)', () => {
    const wrapped = new TypeError('fetch failed', { cause: withCode('CERT_HAS_EXPIRED', 'certificate has expired') });
    const result = classifyNetworkError(wrapped);
    expect(result.kind).toBe(AttemptErrorKind.TLS);
    expect(result.message).toBe('TLS handshake failed: fetch failed');
  });

  it.each(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL'])('classifies %s as DNS', (code) => {
    expect(classifyNetworkError(withCode(code)).kind).toBe(AttemptErrorKind.DNS);
  });

  it.each(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED'])('classifies %s as RESET', (code) => {
    expect(classifyNetworkError(withCode(code)).kind).toBe(AttemptErrorKind.RESET);
  });

  it.each(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNABORTED'])('classifies %s as CONNECT', (code) => {
    const result = classifyNetworkError(withCode(code, 'nope'));
    expect(result.kind).toBe(AttemptErrorKind.CONNECT);
    expect(result.message).toBe('Could not connect: nope');
  });

  it.each(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'])(
    'classifies %s as TIMEOUT',
    (code) => {
      expect(classifyNetworkError(withCode(code)).kind).toBe(AttemptErrorKind.TIMEOUT);
    },
  );

  it('classifies a TimeoutError DOMException (AbortSignal.timeout) as TIMEOUT', () => {
    expect(classifyNetworkError(new DOMException('The operation was aborted due to timeout', 'TimeoutError')).kind).toBe(
      AttemptErrorKind.TIMEOUT,
    );
  });

  it('does not throw for errors whose code is not a string (DOMException AbortError has code 20)', () => {
    const abort = new DOMException('This operation was aborted', 'AbortError');
    expect(typeof abort.code).toBe('number');
    const result = classifyNetworkError(abort);
    expect(Object.values(AttemptErrorKind)).toContain(result.kind);
    expect(result.message).toBe('This operation was aborted');
    expect(() => classifyNetworkError({ code: 42, message: 'numeric' })).not.toThrow();
    expect(() => classifyNetworkError({ code: { nested: true } })).not.toThrow();
  });

  it('classifies HPE_ parser codes and UND_ERR_INVALID_ARG as INVALID_RESPONSE', () => {
    expect(classifyNetworkError(withCode('HPE_INVALID_CONSTANT')).kind).toBe(AttemptErrorKind.INVALID_RESPONSE);
    expect(classifyNetworkError(withCode('HPE_INVALID_HEADER_TOKEN')).kind).toBe(AttemptErrorKind.INVALID_RESPONSE);
    expect(classifyNetworkError(withCode('UND_ERR_INVALID_ARG')).kind).toBe(AttemptErrorKind.INVALID_RESPONSE);
  });

  it('prefers TIMEOUT over other codes in the chain', () => {
    const error = Object.assign(new Error('outer'), { code: 'UND_ERR_CONNECT_TIMEOUT', cause: withCode('ECONNRESET') });
    expect(classifyNetworkError(error).kind).toBe(AttemptErrorKind.TIMEOUT);
  });

  it('falls back to CONNECT with the original message for unknown errors', () => {
    expect(classifyNetworkError(new Error('something odd'))).toEqual({ kind: AttemptErrorKind.CONNECT, message: 'something odd' });
    expect(classifyNetworkError(withCode('EWHATEVER', 'weird'))).toEqual({ kind: AttemptErrorKind.CONNECT, message: 'weird' });
  });

  it('copes with non-Error values', () => {
    expect(classifyNetworkError('plain string')).toEqual({ kind: AttemptErrorKind.CONNECT, message: 'plain string' });
    expect(classifyNetworkError(undefined)).toEqual({ kind: AttemptErrorKind.CONNECT, message: 'undefined' });
    expect(classifyNetworkError(null)).toEqual({ kind: AttemptErrorKind.CONNECT, message: 'null' });
    expect(classifyNetworkError({})).toEqual({ kind: AttemptErrorKind.CONNECT, message: '[object Object]' });
  });

  it('stops on a cyclic cause chain', () => {
    const a: { message: string; cause?: unknown } = { message: 'a' };
    const b = { message: 'b', cause: a };
    a.cause = b;
    expect(classifyNetworkError(a)).toEqual({ kind: AttemptErrorKind.CONNECT, message: 'a' });
  });
});

/** An agent whose DNS lookup fails like getaddrinfo for a missing name, without any network traffic. */
const notFoundAgent = new Agent({ connect: { lookup: notFoundLookup } });
