import type { DeliveryReader } from '../modules/deliveries/delivery.service';
import type { EventReader, EventWriter } from '../modules/events/event.service';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../config';
import type { SecretBox } from '../lib/encryption';
import type { Logger } from '../lib/logger';
import type { Principal, TenantScope } from '../modules/api-keys/principal';
import type { HeraldPubSub } from './pubsub';
import type { VerifiedKeyCache } from '../modules/api-keys/verified-key-cache';

/** What every resolver receives: one EntityManager fork per operation, never a global one. */
export interface GraphQLContext {
  em: EntityManager;
  orm: MikroORM;
  config: HeraldConfig;
  logger: Logger;
  requestId: string;
  /** The API key the operation was authenticated with. */
  principal: Principal;
  /** The data that key may touch; every service call is made within it. */
  scope: TenantScope;
  /** Encrypts endpoint and source secrets at rest. */
  secrets: SecretBox;
  /** This process's subscription fan-out (fed by the change feed). */
  pubSub: HeraldPubSub;
  /** This process's publish writer: concurrent publishes share transactions. */
  eventWriter: EventWriter;
  /** This process's recently verified API keys, evicted when a key is revoked. */
  verifiedKeys: VerifiedKeyCache;
  /** This process's event loads for subscriptions: a burst of notifications is one query. */
  eventReader: EventReader;
  /** This process's delivery loads for subscriptions, coalesced the same way. */
  deliveryReader: DeliveryReader;
}

/** What a request's context is made of; the entity manager and the logger are derived on first use. */
export type RequestContextParts = Omit<GraphQLContext, 'em' | 'logger'> & { baseLogger: Logger };

/**
 * A request's context whose entity manager fork and child logger are made on first use (a publish needs
 * neither: its writer has its own). They are getters on the prototype, not own properties: Apollo Server
 * copies each request's context with Object.assign, which would call own getters and make both every time.
 * A copy keeps the prototype and the own parts, so it makes its own on first use.
 */
export class RequestContext implements GraphQLContext {
  orm!: MikroORM;
  config!: HeraldConfig;
  requestId!: string;
  principal!: Principal;
  scope!: TenantScope;
  secrets!: SecretBox;
  pubSub!: HeraldPubSub;
  eventWriter!: EventWriter;
  verifiedKeys!: VerifiedKeyCache;
  eventReader!: EventReader;
  deliveryReader!: DeliveryReader;
  baseLogger!: Logger;

  constructor(parts: RequestContextParts) {
    Object.assign(this, parts);
  }

  get em(): EntityManager {
    return this.settle('em', this.orm.em.fork());
  }

  get logger(): Logger {
    return this.settle('logger', this.baseLogger.child({ requestId: this.requestId, apiKey: this.principal.keyId }));
  }

  /** Keeps a derived part on this object (not enumerable, so a copy derives its own). */
  private settle<K extends 'em' | 'logger'>(key: K, value: GraphQLContext[K]): GraphQLContext[K] {
    Object.defineProperty(this, key, { value, enumerable: false, configurable: true });
    return value;
  }
}
