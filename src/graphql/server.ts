import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestListener } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import type { MikroORM } from '@mikro-orm/postgresql';
import express, { type ErrorRequestHandler } from 'express';
import {
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  GraphQLError,
  type GraphQLSchema,
  Kind,
  type SelectionSetNode,
  parse,
  specifiedRules,
  subscribe,
  validate,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { HeraldConfig } from '../config';
import type { SecretBox } from '../lib/encryption';
import { ErrorCode, HeraldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { ApiKeyKind } from '../modules/api-keys/api-key.entity';
import { ApiKeyService } from '../modules/api-keys/api-key.service';
import { type Principal, scopeOf } from '../modules/api-keys/principal';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';
import { bearerToken } from './bearer-token';
import { type GraphQLContext, type SharedContext, createRequestContext } from './context';
import {
  DATABASE_RETRY_AFTER_SECONDS,
  createErrorFormatter,
  databaseUnavailable,
  isDatabaseOutage,
  logDatabaseUnavailable,
} from './errors';
import { graphiqlHandlers } from './graphiql';
import { mountHttpRoutes } from './routes';
import { setSecurityHeaders } from './security-headers';
import { HERALD_CODE_EXTENSION, queryLimitRule } from './query-limits';
import { DeliveryReader } from '../modules/deliveries/delivery.service';
import { EventReader, EventWriter } from '../modules/events/event.service';
import { RateLimiter } from './rate-limiter';
import type { HeraldPubSub } from './pubsub';
import { SharedSubscriptions, type SubscriberConnection } from './shared-subscriptions';
import { KeyedSockets } from './keyed-sockets';
import { mountDashboard } from '../observability/dashboard';
import { isPlainGraphqlPost, refuse, sendJsonError, serveGraphqlPost, tagRequest } from './graphql-post';

export interface HttpServerHandle {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

export interface HttpServerDependencies {
  schema: GraphQLSchema;
  pubSub: HeraldPubSub;
  orm: MikroORM;
  config: HeraldConfig;
  logger: Logger;
  secrets: SecretBox;
  /** Keys verified recently (kept current by the change feed); revocations through this API evict at once. */
  verifiedKeys: VerifiedKeyCache;
  /** Extra probes mounted beside the API (health, readiness). */
  probes?: (app: express.Express) => void;
}

export async function startHttpServer(deps: HttpServerDependencies): Promise<HttpServerHandle> {
  const { schema, orm, config, logger, secrets, verifiedKeys } = deps;
  const app = express();
  app.disable('x-powered-by');
  // res.send would hash every GraphQL answer for an ETag no client revalidates (static files keep theirs).
  app.set('etag', false);
  // Set once Apollo has started: plain JSON POSTs to /graphql skip express (see graphql-post.ts).
  let serveDirect: ((req: http.IncomingMessage, res: http.ServerResponse) => void) | null = null;
  const server = http.createServer((req, res) => {
    setSecurityHeaders(res);
    // A request without a key goes through express, where its query is read before its context is made (requestContext).
    if (serveDirect && req.headers.authorization !== undefined && isPlainGraphqlPost(req)) serveDirect(req, res);
    else app(req, res);
  });
  const formatError = createErrorFormatter(logger);
  const rateLimiter = new RateLimiter(config.rateLimit);
  const validationRules = [queryLimitRule(config.graphqlLimits)];

  const eventWriter = new EventWriter(() => orm.em.fork(), config);
  const eventReader = new EventReader(() => orm.em.fork());
  const deliveryReader = new DeliveryReader(() => orm.em.fork());
  const sharedContext: SharedContext = {
    orm,
    config,
    logger,
    secrets,
    pubSub: deps.pubSub,
    eventWriter,
    verifiedKeys,
    eventReader,
    deliveryReader,
  };
  const contextFor = (requestId: string, principal: Principal): GraphQLContext => createRequestContext(sharedContext, requestId, principal);

  /** Key checks on a fresh entity manager (made only when the verified-key cache cannot answer). */
  const apiKeys = (): ApiKeyService => new ApiKeyService(() => orm.em.fork(), verifiedKeys);

  /** Authenticates a presented key and takes a rate-limit token for it; HeraldError otherwise. */
  const admit = async (presented: string | undefined): Promise<Principal> => {
    const principal = await apiKeys().authenticate(presented);
    const retryAfterSeconds = rateLimiter.take(principal.keyId);
    if (retryAfterSeconds > 0) {
      throw new HeraldError(
        ErrorCode.RATE_LIMITED,
        `Too many requests with this API key: the limit is ${config.rateLimit.perMinute} a minute (API_RATE_LIMIT_PER_MINUTE). Retry in ${retryAfterSeconds} s.`,
        { retryAfterSeconds },
      );
    }
    return principal;
  };

  /** A result as graphql-ws sends it: errors formatted like the HTTP API's. */
  const formatResult = (result: ExecutionResult): FormattedExecutionResult => {
    if (!result.errors) return result;
    const outage = result.errors.find(isDatabaseOutage);
    if (outage) logDatabaseUnavailable(logger, outage, { transport: 'graphql-ws', path: outage.path });
    return { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) };
  };
  const shared = new SharedSubscriptions({
    format: formatResult,
    // A fresh fork per message: a long-lived identity map would serve stale rows and grow without end.
    contextForMessage: (context) => contextFor((context as GraphQLContext).requestId, (context as GraphQLContext).principal),
  });
  /** Operations onSubscribe found shareable, by the arguments graphql-ws hands to `subscribe`. */
  const shareable = new WeakMap<ExecutionArgs, { key: string; connection: SubscriberConnection }>();

  const keyedSockets = new KeyedSockets(
    (presented) => apiKeys().verify(presented),
    (error) => logger.warn({ err: error }, 'could not re-check the API key of open subscriptions; they keep it until the next check'),
  );
  const stopHearingKeyChanges = verifiedKeys.onChange((keyId) => void keyedSockets.recheck(keyId));

  /** The largest request body (HTTP) or message (graphql-ws) taken: twice the payload limit, as JSON text, and room. */
  const maxBodyBytes = config.maxPayloadBytes * 2 + 65_536;
  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: maxBodyBytes });
  const wsCleanup = useServer<Record<string, unknown>, { requestId?: string; apiKey?: string; principal?: Principal }>(
    {
      schema,
      context: (ctx) => contextFor(ctx.extra.requestId ?? randomUUID(), ctx.extra.principal!),
      onConnect: async (ctx) => {
        ctx.extra.requestId = randomUUID();
        ctx.extra.apiKey = credentialFromConnectionParams(ctx.connectionParams);
        try {
          const changesBefore = verifiedKeys.version();
          const authority = await apiKeys().verify(ctx.extra.apiKey);
          ctx.extra.principal = authority.principal;
          keyedSockets.add(ctx.extra.socket, ctx.extra.apiKey!, authority);
          // A change heard while the key was checked found no socket to check yet: check this one now.
          if (verifiedKeys.version() !== changesBefore) void keyedSockets.recheck(authority.principal.keyId);
          return true;
        } catch (error) {
          if (isDatabaseOutage(error)) {
            // 1013 Try Again Later: graphql-ws clients retry it (a thrown error would close with 4500 and the address).
            logDatabaseUnavailable(logger, error, { transport: 'graphql-ws', requestId: ctx.extra.requestId });
            ctx.extra.socket.close(1013, WS_DATABASE_UNAVAILABLE);
            return false;
          }
          if (!(error instanceof HeraldError)) throw error;
          // A close reason is limited to 123 bytes: say what to send.
          ctx.extra.socket.close(4401, 'Unauthorized: send connection_init payload { "Authorization": "Bearer <api key>" }');
          return false;
        }
      },
      onSubscribe: async (ctx, id, payload) => {
        let principal: Principal;
        try {
          // Checked again for every operation: a key revoked after the socket opened starts nothing new.
          principal = ctx.extra.principal = await admit(ctx.extra.apiKey);
        } catch (caught) {
          let error = caught;
          if (isDatabaseOutage(error)) {
            logDatabaseUnavailable(logger, error, { transport: 'graphql-ws', requestId: ctx.extra.requestId });
            error = databaseUnavailable();
          }
          if (error instanceof HeraldError)
            return [new GraphQLError(error.message, { extensions: { ...error.details, code: error.code } })];
          throw error;
        }
        if (Buffer.byteLength(payload.query) > config.graphqlLimits.maxDocumentBytes) return [documentTooLarge(config)];
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [withCode(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(schema, document, [...specifiedRules, ...validationRules]);
        if (errors.length > 0) {
          return errors.map((error) => {
            const heraldCode = error.extensions[HERALD_CODE_EXTENSION];
            return withCode(error, typeof heraldCode === 'string' ? heraldCode : 'GRAPHQL_VALIDATION_FAILED');
          });
        }
        const args: ExecutionArgs = {
          schema,
          document,
          variableValues: payload.variables ?? undefined,
          operationName: payload.operationName ?? undefined,
        };
        const key = shared.keyOf(args, scopeOf(principal), payload.query);
        if (key) shareable.set(args, { key, connection: { id, socket: ctx.extra.socket, transport: ctx.extra.request.socket } });
        return args;
      },
      subscribe: (args) => {
        const share = shareable.get(args);
        return share ? shared.subscribe(share.key, args, share.connection) : subscribe(args);
      },
      onNext: (_ctx, _id, _payload, _args, result) => (result.errors ? formatResult(result) : undefined),
      // graphql-ws wraps what a subscription's stream throws (SUBSCRIBER_TOO_SLOW, say) in a GraphQLError
      // without our code; format the original like any resolver error.
      onError: (_ctx, _id, _payload, errors) => {
        const outage = errors.find(isDatabaseOutage);
        if (outage) logDatabaseUnavailable(logger, outage, { transport: 'graphql-ws', path: outage.path });
        return errors.map((error) => (error.originalError ? formatError(error.toJSON(), error.originalError) : error.toJSON()));
      },
    },
    wsServer,
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    introspection: config.introspection,
    csrfPrevention: true,
    validationRules,
    formatError,
    includeStacktraceInErrorResponses: false,
    // Apollo's own messages as Herald's log lines (its default logger writes plain text to the console).
    logger: {
      debug: (message: unknown) => logger.debug({ component: 'apollo' }, String(message)),
      info: (message: unknown) => logger.info({ component: 'apollo' }, String(message)),
      warn: (message: unknown) => logger.warn({ component: 'apollo' }, String(message)),
      error: (message: unknown) => logger.error({ component: 'apollo' }, String(message)),
    },
    // Herald drains on SIGTERM itself (HTTP, then in-flight deliveries); Apollo's own handler stopped the server
    // and re-raised the signal, which cut that drain short with exit code 1.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      // Herald sets no cache hints, and the default cache-control plugin wrapped every field's resolver to collect them.
      ApolloServerPluginCacheControlDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      databaseOutagePlugin(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await wsCleanup.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  // One id per request, on every log line it causes (the GraphQL context logger included) and echoed back.
  app.use((req, res, next) => {
    res.locals.requestId = tagRequest(req, res, logger);
    next();
  });

  /**
   * The operation's context: the presented key authenticated and within its rate limit, or Apollo's 401/429. The one
   * place an HTTP request's authentication is decided. Where introspection is on the schema is no secret, so a request
   * with no Authorization header whose query only introspects (GraphiQL's schema fetch, before a key is pasted) runs
   * without a key; `query` is the POSTed query text, passed only by the express route, which takes every keyless request.
   */
  const requestContext = async (authorization: string | undefined, requestId: string, query?: unknown): Promise<GraphQLContext> => {
    if (authorization === undefined && config.introspection && isIntrospectionOnly(query)) {
      return contextFor(requestId, INTROSPECTION_WITHOUT_KEY);
    }
    let principal: Principal;
    try {
      principal = await admit(bearerToken(authorization));
    } catch (error) {
      if (isDatabaseOutage(error)) {
        logDatabaseUnavailable(logger, error, { requestId });
        throw toHttpError(databaseUnavailable());
      }
      if (error instanceof HeraldError) throw toHttpError(error);
      throw error;
    }
    return contextFor(requestId, principal);
  };
  /** A query text over GRAPHQL_MAX_DOCUMENT_BYTES is refused before it is parsed. */
  const oversizedQuery = (query: unknown): GraphQLError | null =>
    typeof query === 'string' && Buffer.byteLength(query) > config.graphqlLimits.maxDocumentBytes ? documentTooLarge(config) : null;
  const directOptions = {
    apollo,
    logger,
    maxBodyBytes,
    oversizedQuery,
    context: (req: http.IncomingMessage, requestId: string) => requestContext(req.headers.authorization, requestId),
  };
  serveDirect = (req, res) => {
    void serveGraphqlPost(req, res, directOptions).catch((error: unknown) => refuse.internalError(res, logger, error));
  };

  // First after the request id: the API's requests pass no other route's matching (or the dashboard's files).
  app.use(
    '/graphql',
    express.json({ limit: maxBodyBytes, verify: refuseInvalidUtf8 }),
    (req, res, next) => {
      const error = oversizedQuery(req.method === 'GET' ? req.query.query : (req.body as { query?: unknown } | undefined)?.query);
      if (error) return refuse.queryTooLarge(res, error);
      next();
    },
    expressMiddleware(apollo, {
      context: ({ req, res }) =>
        requestContext(
          req.get('authorization'),
          String(res.locals.requestId ?? randomUUID()),
          req.method === 'POST' ? (req.body as { query?: unknown } | undefined)?.query : undefined,
        ),
    }),
  );
  if (config.graphiql) {
    const graphiql = graphiqlHandlers({ introspection: config.introspection });
    app.use(graphiql.assets);
    app.get('/graphiql', graphiql.page);
  }
  mountDashboard(app);
  deps.probes?.(app);
  mountHttpRoutes(app, { orm, config, logger, secrets });

  app.use(jsonErrors(logger));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  return {
    server,
    url,
    close: async () => {
      stopHearingKeyChanges();
      keyedSockets.stop();
      await apollo.stop();
      server.closeAllConnections();
    },
  };
}

/** Whom a keyless introspection runs as: no key, and a scope no application is in (no resolver of Herald's runs for it). */
const INTROSPECTION_WITHOUT_KEY: Principal = Object.freeze({
  keyId: 'none',
  name: 'introspection without an API key',
  kind: ApiKeyKind.APPLICATION,
  applicationId: 'none:introspection-only',
});

const INTROSPECTION_FIELDS = new Set(['__schema', '__type', '__typename']);

/**
 * Whether a query text is a document of queries only whose every root field is __schema, __type or __typename
 * (through fragments too), whichever operation is picked. Each fragment is judged once, so any document (at most
 * GRAPHQL_MAX_DOCUMENT_BYTES, checked before) is judged in linear time; a fragment cycle is not introspection.
 */
function isIntrospectionOnly(query: unknown): boolean {
  if (typeof query !== 'string') return false;
  let document: DocumentNode;
  try {
    document = parse(query, { noLocation: true });
  } catch {
    return false;
  }
  const fragments = new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
  const verdicts = new Map<string, boolean>();
  const introspects = (selectionSet: SelectionSetNode): boolean =>
    selectionSet.selections.every((selection) => {
      if (selection.kind === Kind.FIELD) return INTROSPECTION_FIELDS.has(selection.name.value);
      if (selection.kind === Kind.INLINE_FRAGMENT) return introspects(selection.selectionSet);
      const name = selection.name.value;
      if (!verdicts.has(name)) {
        verdicts.set(name, false);
        const fragment = fragments.get(name);
        verdicts.set(name, fragment !== undefined && introspects(fragment.selectionSet));
      }
      return verdicts.get(name)!;
    });
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  return operations.length > 0 && operations.every((operation) => operation.operation === 'query' && introspects(operation.selectionSet));
}

/** graphql-ws clients put the key in the connection_init payload, spelled in one of a few usual ways. */
export function credentialFromConnectionParams(params: Readonly<Record<string, unknown>> | undefined): string | undefined {
  if (!params) return undefined;
  for (const name of ['Authorization', 'authorization']) {
    const value = params[name];
    if (typeof value === 'string') return bearerToken(value) ?? value.trim();
  }
  const headers = params.headers;
  if (headers && typeof headers === 'object') return credentialFromConnectionParams(headers as Record<string, unknown>);
  return typeof params.apiKey === 'string' ? params.apiKey.trim() : undefined;
}

/** The close reason (at most 123 bytes) of a graphql-ws connection refused because the database is unavailable. */
const WS_DATABASE_UNAVAILABLE = `SERVICE_UNAVAILABLE: the database is unavailable; reconnect in ${DATABASE_RETRY_AFTER_SECONDS} s`;

/**
 * An operation a resolver could not finish because the database is unavailable answers 503 with Retry-After, even if
 * other fields succeeded (the client retries the operation), and is logged once, however many of its fields failed.
 */
function databaseOutagePlugin(): ApolloServerPlugin<GraphQLContext> {
  const listener: GraphQLRequestListener<GraphQLContext> = {
    async didEncounterErrors({ errors, response, contextValue }) {
      const outage = errors.find(isDatabaseOutage);
      if (!outage) return;
      response.http.status = 503;
      response.http.headers.set('retry-after', String(DATABASE_RETRY_AFTER_SECONDS));
      logDatabaseUnavailable(contextValue.logger, outage, { path: outage.path });
    },
  };
  // One listener for every request: nothing is allocated per publish.
  return { requestDidStart: async () => listener };
}

/** Authentication, rate-limit and database-outage refusals as Apollo sends them: 401, 429 or 503, Retry-After when it helps. */
function toHttpError(error: HeraldError): GraphQLError {
  const status = error.code === ErrorCode.RATE_LIMITED ? 429 : error.code === ErrorCode.SERVICE_UNAVAILABLE ? 503 : 401;
  const headers = new Map<string, string>();
  if (status === 401) headers.set('www-authenticate', 'Bearer');
  const retryAfter = error.details.retryAfterSeconds;
  if (typeof retryAfter === 'number') headers.set('retry-after', String(retryAfter));
  return new GraphQLError(error.message, { extensions: { ...error.details, code: error.code, http: { status, headers } } });
}

function documentTooLarge(config: HeraldConfig): GraphQLError {
  return new GraphQLError(
    `The query text is over ${config.graphqlLimits.maxDocumentBytes} bytes (GRAPHQL_MAX_DOCUMENT_BYTES): send a shorter document and pass data as variables.`,
    { extensions: { code: ErrorCode.QUERY_TOO_LARGE, limit: config.graphqlLimits.maxDocumentBytes } },
  );
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { code } });
}

/** As on the direct route: bytes that are not UTF-8 are refused (400, refuse.invalidUtf8), not replaced with U+FFFD. */
function refuseInvalidUtf8(_req: http.IncomingMessage, _res: http.ServerResponse, body: Buffer): void {
  if (!isUtf8(body)) throw Object.assign(new Error('The request body is not valid UTF-8.'), { status: 400, type: INVALID_UTF8 });
}

/** body-parser's type for the error refuseInvalidUtf8 throws. */
const INVALID_UTF8 = 'herald.invalid.utf8';

/** Body-parser failures answer in GraphQL's error shape with a code, never an HTML page. */
function jsonErrors(logger: Logger): ErrorRequestHandler {
  return (error: { type?: string; status?: number; message?: string }, _req, res, next) => {
    if (res.headersSent) return next(error);
    if (error.type === 'entity.too.large') return refuse.bodyTooLarge(res);
    if (error.type === 'entity.parse.failed') return refuse.invalidJson(res);
    if (error.type === INVALID_UTF8) return refuse.invalidUtf8(res);
    if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
      return sendJsonError(res, error.status, error.message ?? 'Bad request', { code: 'BAD_REQUEST' });
    }
    refuse.internalError(res, logger, error);
  };
}
