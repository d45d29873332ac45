import { createPubSub } from '@graphql-yoga/subscription';
import type { ChangeMessage } from '../db/sql';

export const Topic = {
  DELIVERY: 'DELIVERY_CHANGED',
  EVENT: 'EVENT_PUBLISHED',
  ENDPOINT: 'ENDPOINT_STATUS_CHANGED',
  REPLAY: 'REPLAY_UPDATED',
} as const;

export type DeliveryChange = Extract<ChangeMessage, { kind: 'delivery' }>;
export type EventChange = Extract<ChangeMessage, { kind: 'event' }>;
export type EndpointChange = Extract<ChangeMessage, { kind: 'endpoint' }>;
export type ReplayChange = Extract<ChangeMessage, { kind: 'replay' }>;

/** In-process fan-out to subscription operations; fed only by the LISTEN/NOTIFY change feed. */
export function createHeraldPubSub() {
  return createPubSub<{
    [Topic.DELIVERY]: [DeliveryChange];
    [Topic.EVENT]: [EventChange];
    [Topic.ENDPOINT]: [EndpointChange];
    [Topic.REPLAY]: [ReplayChange];
  }>();
}
export type HeraldPubSub = ReturnType<typeof createHeraldPubSub>;
