import type { MikroORM } from '@mikro-orm/postgresql';
import { type DocumentNode, GraphQLError, Kind, type SelectionSetNode, parse } from 'graphql';
import type { HeraldConfig } from '../config';
import type { SecretBox } from '../lib/encryption';
import { ErrorCode, HeraldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { ApiKeyKind } from '../modules/api-keys/api-key.entity';
import { ApiKeyService } from '../modules/api-keys/api-key.service';
import type { Principal } from '../modules/api-keys/principal';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';
import { DeliveryReader } from '../modules/deliveries/delivery.service';
import { EventReader, EventWriter } from '../modules/events/event.service';
import { PortalService } from '../modules/portal/portal.service';
import { bearerToken } from './bearer-token';
import { type GraphQLContext, type SharedContext, createRequestContext } from './context';
import { databaseUnavailable, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import type { HeraldPubSub } from './pubsub';
import { RateLimiter } from './rate-limiter';

export interface AdmissionDependencies {
  orm: MikroORM;
  config: HeraldConfig;
  logger: Logger;
  secrets: SecretBox;
  pubSub: HeraldPubSub;
  verifiedKeys: VerifiedKeyCache;
}

/**
 * Who an operation runs as, and its context: the presented key authenticated and within its rate limit, over
 * HTTP and graphql-ws alike, and the services every operation's context shares in this process.
 */
export class Admission {
  private readonly shared: SharedContext;
  private readonly rateLimiter: RateLimiter;

  constructor(private readonly deps: AdmissionDependencies) {
    const { orm, config, logger, secrets, pubSub, verifiedKeys } = deps;
    this.rateLimiter = new RateLimiter(config.rateLimit);
    this.shared = {
      orm,
      config,
      logger,
      secrets,
      pubSub,
      eventWriter: new EventWriter(() => orm.em.fork(), config),
      verifiedKeys,
      eventReader: new EventReader(() => orm.em.fork()),
      deliveryReader: new DeliveryReader(() => orm.em.fork()),
    };
  }

  /** Key checks on a fresh entity manager (made only when the verified-key cache cannot answer). */
  apiKeys(): ApiKeyService {
    return new ApiKeyService(() => this.deps.orm.em.fork(), this.deps.verifiedKeys);
  }

  /**
   * Authenticates a presented key (or, over HTTP only, a customer portal session's credential, `hps_...`) and takes
   * a rate-limit token for it; HeraldError otherwise.
   */
  async admit(presented: string | undefined, options: { portal?: boolean } = {}): Promise<Principal> {
    const principal =
      options.portal && presented?.startsWith('hps_')
        ? await new PortalService(this.deps.orm.em.fork()).authenticate(presented)
        : await this.apiKeys().authenticate(presented);
    const retryAfterSeconds = this.rateLimiter.take(principal.keyId);
    if (retryAfterSeconds > 0) {
      throw new HeraldError(
        ErrorCode.RATE_LIMITED,
        `Too many requests with this API key: the limit is ${this.deps.config.rateLimit.perMinute} a minute (API_RATE_LIMIT_PER_MINUTE). Retry in ${retryAfterSeconds} s.`,
        { retryAfterSeconds },
      );
    }
    return principal;
  }

  contextFor(requestId: string, principal: Principal): GraphQLContext {
    return createRequestContext(this.shared, requestId, principal);
  }

  /**
   * An HTTP operation's context, or Apollo's 401/429/503. The one place an HTTP request's authentication is decided.
   * Where introspection is on the schema is no secret, so a request with no Authorization header whose query only
   * introspects (GraphiQL's schema fetch, before a key is pasted) runs without a key; `query` is the POSTed query
   * text, passed only by the express route, which takes every keyless request.
   */
  async httpContext(authorization: string | undefined, requestId: string, query?: unknown): Promise<GraphQLContext> {
    if (authorization === undefined && this.deps.config.introspection && isIntrospectionOnly(query)) {
      return this.contextFor(requestId, INTROSPECTION_WITHOUT_KEY);
    }
    let principal: Principal;
    try {
      principal = await this.admit(bearerToken(authorization), { portal: true });
    } catch (error) {
      if (isDatabaseOutage(error)) {
        logDatabaseUnavailable(this.deps.logger, error, { requestId });
        throw toHttpError(databaseUnavailable());
      }
      if (error instanceof HeraldError) throw toHttpError(error);
      throw error;
    }
    return this.contextFor(requestId, principal);
  }
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

/** Authentication, rate-limit and database-outage refusals as Apollo sends them: 401, 429 or 503, Retry-After when it helps. */
function toHttpError(error: HeraldError): GraphQLError {
  const status = error.code === ErrorCode.RATE_LIMITED ? 429 : error.code === ErrorCode.SERVICE_UNAVAILABLE ? 503 : 401;
  const headers = new Map<string, string>();
  if (status === 401) headers.set('www-authenticate', 'Bearer');
  const retryAfter = error.details.retryAfterSeconds;
  if (typeof retryAfter === 'number') headers.set('retry-after', String(retryAfter));
  return new GraphQLError(error.message, { extensions: { ...error.details, code: error.code, http: { status, headers } } });
}
