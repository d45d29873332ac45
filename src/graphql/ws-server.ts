import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import {
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  GraphQLError,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type ValidationRule,
  parse,
  specifiedRules,
  subscribe,
  validate,
} from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { HeraldConfig } from '../config';
import { HeraldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { type Principal, scopeOf } from '../modules/api-keys/principal';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';
import type { Admission } from './admission';
import { bearerToken } from './bearer-token';
import type { GraphQLContext } from './context';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnavailable, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import { KeyedSockets } from './keyed-sockets';
import { HERALD_CODE_EXTENSION, documentTooLarge } from './query-limits';
import { SharedSubscriptions, type SubscriberConnection } from './shared-subscriptions';

export interface GraphqlWsOptions {
  /** The HTTP server whose upgrades to /graphql become graphql-ws connections. */
  server: http.Server;
  schema: GraphQLSchema;
  config: HeraldConfig;
  logger: Logger;
  admission: Admission;
  verifiedKeys: VerifiedKeyCache;
  /** Herald's own validation rules (the query limits), run after graphql-js's. */
  validationRules: ValidationRule[];
  formatError: (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;
  /** The largest message taken, like the largest HTTP body. */
  maxMessageBytes: number;
}

export interface GraphqlWsHandle {
  /** Closes every connection (when the HTTP server drains). */
  dispose(): Promise<void>;
  /** Stops re-checking the keys of open connections. */
  stopKeyChecks(): void;
}

/**
 * GraphQL over WebSocket (graphql-ws) on /graphql: each connection authenticated by its connection_init key and
 * closed when that key is revoked or expires, each operation admitted, limited and validated like an HTTP one, and
 * subscriptions marked for shared fan-out executed once per message for all of a group's subscribers.
 */
export function startGraphqlWs(options: GraphqlWsOptions): GraphqlWsHandle {
  const { server, schema, config, logger, admission, verifiedKeys, validationRules, formatError, maxMessageBytes } = options;
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
    contextForMessage: (context) => admission.contextFor((context as GraphQLContext).requestId, (context as GraphQLContext).principal),
  });
  /** Operations onSubscribe found shareable, by the arguments graphql-ws hands to `subscribe`. */
  const shareable = new WeakMap<ExecutionArgs, { key: string; connection: SubscriberConnection }>();

  const keyedSockets = new KeyedSockets(
    (presented) => admission.apiKeys().verify(presented),
    (error) => logger.warn({ err: error }, 'could not re-check the API key of open subscriptions; they keep it until the next check'),
  );
  const stopHearingKeyChanges = verifiedKeys.onChange((keyId) => void keyedSockets.recheck(keyId));

  const wsServer = new WebSocketServer({ server, path: '/graphql', maxPayload: maxMessageBytes });
  const wsCleanup = useServer<Record<string, unknown>, { requestId?: string; apiKey?: string; principal?: Principal }>(
    {
      schema,
      context: (ctx) => admission.contextFor(ctx.extra.requestId ?? randomUUID(), ctx.extra.principal!),
      onConnect: async (ctx) => {
        ctx.extra.requestId = randomUUID();
        ctx.extra.apiKey = credentialFromConnectionParams(ctx.connectionParams);
        try {
          const changesBefore = verifiedKeys.version();
          const authority = await admission.apiKeys().verify(ctx.extra.apiKey);
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
          principal = ctx.extra.principal = await admission.admit(ctx.extra.apiKey);
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
        if (Buffer.byteLength(payload.query) > config.graphqlLimits.maxDocumentBytes) return [documentTooLarge(config.graphqlLimits)];
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

  return {
    dispose: async () => {
      await wsCleanup.dispose();
    },
    stopKeyChecks: () => {
      stopHearingKeyChanges();
      keyedSockets.stop();
    },
  };
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

function withCode(error: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: { code } });
}
