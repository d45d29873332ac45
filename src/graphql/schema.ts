import 'reflect-metadata';
import { type GraphQLSchema, lexicographicSortSchema, printSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { ApiKeyResolver } from '../modules/api-keys/api-key.resolver';
import { ApplicationResolver } from '../modules/applications/application.resolver';
import { AuditResolver } from '../modules/audit/audit.resolver';
import { CatalogResolver } from '../modules/catalog/catalog.resolver';
import { DeliveryResolver } from '../modules/deliveries/delivery.resolver';
import { EndpointResolver } from '../modules/endpoints/endpoint.resolver';
import { EventResolver } from '../modules/events/event.resolver';
import { MetricsResolver } from '../modules/metrics/metrics.resolver';
import { PortalResolver } from '../modules/portal/portal.resolver';
import { ReplayResolver } from '../modules/replays/replay.resolver';
import { SourceResolver } from '../modules/sources/source.resolver';
import { authChecker } from './authorization';
import { type HeraldPubSub, createHeraldPubSub } from './pubsub';

export const resolvers = [
  ApiKeyResolver,
  ApplicationResolver,
  EndpointResolver,
  EventResolver,
  DeliveryResolver,
  CatalogResolver,
  SourceResolver,
  MetricsResolver,
  ReplayResolver,
  PortalResolver,
  AuditResolver,
] as const;

export async function buildHeraldSchema(pubSub: HeraldPubSub = createHeraldPubSub()): Promise<GraphQLSchema> {
  return buildSchema({ resolvers, pubSub, authChecker, validate: false, emitSchemaFile: false });
}

/** The SDL committed as schema.graphql: sorted, so it changes only when the API does. */
export async function printHeraldSchema(): Promise<string> {
  const schema = await buildHeraldSchema();
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
