import type http from 'node:http';
import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { type ApolloServer, type BaseContext, HeaderMap } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import { ErrorCode } from '../lib/errors';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnavailable, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import type { Logger } from '../lib/logger';

/**
 * Gives the request its id (the caller's `x-request-id`, or a new one), echoes it, and logs the request when it
 * finishes (debug; warn for a 5xx). One id per request, on every log line it causes.
 */
export function tagRequest(req: http.IncomingMessage, res: http.ServerResponse, logger: Logger): string {
  const given = req.headers['x-request-id'];
  const requestId = (Array.isArray(given) ? given[0] : given)?.slice(0, 100) || randomUUID();
  const started = process.hrtime.bigint();
  res.setHeader('x-request-id', requestId);
  res.on('finish', () => {
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    const path = (req.url ?? '/').split('?')[0]!;
    const level = res.statusCode >= 500 ? 'warn' : path === '/metrics' || path.endsWith('z') ? 'trace' : 'debug';
    logger[level](
      { requestId, method: req.method, path, status: res.statusCode, durationMs: Math.round(durationMs * 10) / 10 },
      'HTTP request',
    );
  });
  return requestId;
}

/** A JSON error body as the API answers every refusal: GraphQL's error shape with a code. */
export function sendJsonError(res: http.ServerResponse, status: number, message: string, extensions: Record<string, unknown>): void {
  const body = JSON.stringify({ errors: [{ message, extensions }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The refusals both routes to the API make before GraphQL runs. */
export const refuse = {
  bodyTooLarge: (res: http.ServerResponse) =>
    sendJsonError(res, 413, 'The request body is too large.', { code: ErrorCode.PAYLOAD_TOO_LARGE }),
  invalidJson: (res: http.ServerResponse) => sendJsonError(res, 400, 'The request body is not valid JSON.', { code: 'BAD_REQUEST' }),
  /** Bytes that are not UTF-8, refused rather than replaced with U+FFFD. */
  invalidUtf8: (res: http.ServerResponse) =>
    sendJsonError(res, 400, 'The request body is not valid UTF-8: send JSON encoded as UTF-8.', { code: 'BAD_REQUEST' }),
  /** An over-long query text (QUERY_TOO_LARGE), refused before it is parsed. */
  queryTooLarge: (res: http.ServerResponse, error: GraphQLError) => sendJsonError(res, 413, error.message, error.extensions),
  /** Logged, and answered with 500 (503 when the database is unavailable) if nothing was sent yet; cut otherwise. */
  internalError: (res: http.ServerResponse, logger: Logger, error: unknown) => {
    if (isDatabaseOutage(error)) return refuse.databaseUnavailable(res, logger, error);
    logger.error({ err: error }, 'unexpected HTTP error');
    if (res.headersSent) res.destroy();
    else sendJsonError(res, 500, 'Internal server error', { code: ErrorCode.INTERNAL_SERVER_ERROR });
  },
  /** 503 SERVICE_UNAVAILABLE with Retry-After, logged as the outage it is. */
  databaseUnavailable: (res: http.ServerResponse, logger: Logger, error: unknown) => {
    logDatabaseUnavailable(logger, error, { requestId: res.getHeader('x-request-id') });
    if (res.headersSent) return void res.destroy();
    const unavailable = databaseUnavailable();
    res.setHeader('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
    sendJsonError(res, 503, unavailable.message, { ...unavailable.details, code: unavailable.code });
  },
};

/**
 * A POST of a JSON GraphQL request, served without express: the API's hot path (every publish) skips the router,
 * body-parser and express's response helpers, which were about a tenth of the API's CPU per request. Requests in
 * any other form (another method, content type, charset or content encoding) go through express as before, and
 * both answer alike: the same limits, error bodies and request ids.
 */
export function isPlainGraphqlPost(req: http.IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const url = req.url ?? '';
  if (url !== '/graphql' && !url.startsWith('/graphql?')) return false;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type']?.toLowerCase().replace(/\s+/g, '');
  return type === 'application/json' || type === 'application/json;charset=utf-8';
}

export interface GraphqlPostOptions<Context extends BaseContext> {
  apollo: ApolloServer<Context>;
  logger: Logger;
  /** Largest body accepted, in bytes (express.json's limit on the other route). */
  maxBodyBytes: number;
  /** The query text's refusal (over-long), or null: checked before Apollo runs. */
  oversizedQuery: (query: unknown) => GraphQLError | null;
  context: (req: http.IncomingMessage, requestId: string) => Promise<Context>;
}

export async function serveGraphqlPost<Context extends BaseContext>(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: GraphqlPostOptions<Context>,
): Promise<void> {
  const requestId = tagRequest(req, res, options.logger);
  const read = await readBody(req, options.maxBodyBytes);
  if (read.kind === 'too-large') return refuse.bodyTooLarge(res);
  if (read.kind === 'aborted') return;
  if (read.kind === 'invalid-utf8') return refuse.invalidUtf8(res);
  let body: unknown = {};
  if (read.text.length > 0) {
    try {
      body = JSON.parse(read.text);
    } catch {
      body = undefined;
    }
    // express.json is strict: only an object or an array is a request.
    if (body === null || typeof body !== 'object') return refuse.invalidJson(res);
  }
  const oversized = options.oversizedQuery((body as { query?: unknown }).query);
  if (oversized) return refuse.queryTooLarge(res, oversized);

  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = req.url ?? '/graphql';
  const query = url.indexOf('?');
  const response = await options.apollo.executeHTTPGraphQLRequest({
    httpGraphQLRequest: { method: 'POST', headers, search: query >= 0 ? url.slice(query) : '', body },
    context: () => options.context(req, requestId),
  });
  for (const [key, value] of response.headers) res.setHeader(key, value);
  res.statusCode = response.status ?? 200;
  if (response.body.kind === 'complete') {
    res.end(response.body.string);
    return;
  }
  for await (const chunk of response.body.asyncIterator) res.write(chunk);
  res.end();
}

type BodyRead = { kind: 'read'; text: string } | { kind: 'too-large' } | { kind: 'invalid-utf8' } | { kind: 'aborted' };

/** Refuses bytes that are not UTF-8 instead of replacing them with U+FFFD (a byte order mark is kept, as before). */
function decodeBody(bytes: Buffer): BodyRead {
  return isUtf8(bytes) ? { kind: 'read', text: bytes.toString('utf8') } : { kind: 'invalid-utf8' };
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.resolve({ kind: 'too-large' });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: BodyRead) => {
      if (done) return;
      done = true;
      resolve(result);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > maxBytes) {
        finish({ kind: 'too-large' });
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(decodeBody(Buffer.concat(chunks, size))));
    req.on('error', () => finish({ kind: 'aborted' }));
    req.on('close', () => finish({ kind: 'aborted' }));
  });
}
