import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import type { MikroORM } from '@mikro-orm/postgresql';
import express, { type ErrorRequestHandler } from 'express';
import { type ExecutionArgs, GraphQLError, type GraphQLSchema, parse, validate } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { HeraldConfig } from '../config';
import type { Logger } from '../lib/logger';
import type { GraphQLContext } from './context';
import { createErrorFormatter } from './errors';
import { graphiqlHandlers } from './graphiql';
import type { HeraldPubSub } from './pubsub';
import { mountDashboard } from '../observability/dashboard';

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
  /** Extra probes mounted beside the API (health, readiness). */
  probes?: (app: express.Express) => void;
}

export async function startHttpServer(deps: HttpServerDependencies): Promise<HttpServerHandle> {
  const { schema, orm, config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  const server = http.createServer(app);
  const formatError = createErrorFormatter(logger);

  const contextFor = (requestId: string): GraphQLContext => ({
    em: orm.em.fork(),
    orm,
    config,
    logger: logger.child({ requestId }),
    requestId,
    pubSub: deps.pubSub,
  });

  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: config.maxPayloadBytes * 2 + 65_536 });
  const wsCleanup = useServer<Record<string, unknown>, { requestId?: string }>(
    {
      schema,
      context: (ctx) => contextFor(ctx.extra.requestId ?? randomUUID()),
      onConnect: (ctx) => {
        ctx.extra.requestId = randomUUID();
        return true;
      },
      onSubscribe: (_ctx, _id, payload) => {
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [withCode(error as GraphQLError, 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED'));
        return {
          schema,
          document,
          variableValues: payload.variables ?? undefined,
          operationName: payload.operationName ?? undefined,
        } satisfies ExecutionArgs;
      },
      onNext: (_ctx, _id, _payload, _args, result) => {
        if (!result.errors) return;
        return { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) };
      },
    },
    wsServer,
  );

  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    introspection: config.introspection,
    csrfPrevention: true,
    formatError,
    includeStacktraceInErrorResponses: false,
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
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
    const requestId = req.get('x-request-id')?.slice(0, 100) || randomUUID();
    const started = process.hrtime.bigint();
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    res.on('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const level = res.statusCode >= 500 ? 'warn' : req.path === '/metrics' || req.path.endsWith('z') ? 'trace' : 'debug';
      logger[level](
        { requestId, method: req.method, path: req.path, status: res.statusCode, durationMs: Math.round(durationMs * 10) / 10 },
        'HTTP request',
      );
    });
    next();
  });

  if (config.graphiql) {
    const graphiql = graphiqlHandlers();
    app.use(graphiql.assets);
    app.get('/graphiql', graphiql.page);
  }
  mountDashboard(app);
  deps.probes?.(app);

  app.use(
    '/graphql',
    express.json({ limit: config.maxPayloadBytes * 2 + 65_536 }),
    expressMiddleware(apollo, {
      context: async ({ res }) => contextFor(String(res.locals.requestId ?? randomUUID())),
    }),
  );
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
      await apollo.stop();
      server.closeAllConnections();
    },
  };
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { code } });
}

/** Body-parser failures answer in GraphQL's error shape with a code, never an HTML page. */
function jsonErrors(logger: Logger): ErrorRequestHandler {
  return (error: { type?: string; status?: number; message?: string }, _req, res, next) => {
    if (res.headersSent) return next(error);
    if (error.type === 'entity.too.large') {
      res.status(413).json({
        errors: [{ message: 'The request body is too large.', extensions: { code: 'PAYLOAD_TOO_LARGE' } }],
      });
      return;
    }
    if (error.type === 'entity.parse.failed') {
      res.status(400).json({ errors: [{ message: 'The request body is not valid JSON.', extensions: { code: 'BAD_REQUEST' } }] });
      return;
    }
    if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
      res.status(error.status).json({ errors: [{ message: error.message ?? 'Bad request', extensions: { code: 'BAD_REQUEST' } }] });
      return;
    }
    logger.error({ err: error }, 'unexpected HTTP error');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
  };
}
