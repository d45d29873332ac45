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
import { type GraphQLError, type GraphQLSchema } from 'graphql';
import type { HeraldConfig } from '../config';
import type { SecretBox } from '../lib/encryption';
import type { Logger } from '../lib/logger';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';
import { mountDashboard } from '../observability/dashboard';
import { Admission } from './admission';
import type { GraphQLContext } from './context';
import { DATABASE_RETRY_AFTER_SECONDS, createErrorFormatter, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import { graphiqlHandlers } from './graphiql';
import { isPlainGraphqlPost, refuse, sendJsonError, serveGraphqlPost, tagRequest } from './graphql-post';
import type { HeraldPubSub } from './pubsub';
import { documentTooLarge, queryLimitRule } from './query-limits';
import { portalGuardPlugin } from './portal-guard';
import { mountPortal } from './portal-routes';
import { mountHttpRoutes } from './routes';
import { setSecurityHeaders } from './security-headers';
import { startGraphqlWs } from './ws-server';

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
    // A request without a key goes through express, where its query is read before its context is made (Admission.httpContext).
    if (serveDirect && req.headers.authorization !== undefined && isPlainGraphqlPost(req)) serveDirect(req, res);
    else app(req, res);
  });
  const formatError = createErrorFormatter(logger);
  const validationRules = [queryLimitRule(config.graphqlLimits)];
  const admission = new Admission({ orm, config, logger, secrets, pubSub: deps.pubSub, verifiedKeys });
  /** The largest request body (HTTP) or message (graphql-ws) taken: twice the payload limit, as JSON text, and room. */
  const maxBodyBytes = config.maxPayloadBytes * 2 + 65_536;
  const ws = startGraphqlWs({
    server,
    schema,
    config,
    logger,
    admission,
    verifiedKeys,
    validationRules,
    formatError,
    maxMessageBytes: maxBodyBytes,
  });

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
      portalGuardPlugin(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await ws.dispose();
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

  /** A query text over GRAPHQL_MAX_DOCUMENT_BYTES is refused before it is parsed. */
  const oversizedQuery = (query: unknown): GraphQLError | null =>
    typeof query === 'string' && Buffer.byteLength(query) > config.graphqlLimits.maxDocumentBytes
      ? documentTooLarge(config.graphqlLimits)
      : null;
  const directOptions = {
    apollo,
    logger,
    maxBodyBytes,
    oversizedQuery,
    context: (req: http.IncomingMessage, requestId: string) => admission.httpContext(req.headers.authorization, requestId),
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
        admission.httpContext(
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
  mountPortal(app, { orm, config, logger });
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
      ws.stopKeyChecks();
      await apollo.stop();
      server.closeAllConnections();
    },
  };
}

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
      logDatabaseUnavailable(contextValue.logger, outage, {
        path: outage.path,
        requestId: contextValue.requestId,
        apiKey: contextValue.principal.keyId,
      });
    },
  };
  // One listener for every request: nothing is allocated per publish.
  return { requestDidStart: async () => listener };
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
