import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../config';
import type { Logger } from '../lib/logger';
import type { HeraldPubSub } from './pubsub';

/** What every resolver receives: one EntityManager fork per operation, never a global one. */
export interface GraphQLContext {
  em: EntityManager;
  orm: MikroORM;
  config: HeraldConfig;
  logger: Logger;
  requestId: string;
  /** This process's subscription fan-out (fed by the change feed). */
  pubSub: HeraldPubSub;
}
