import type { EntityManager } from '@mikro-orm/postgresql';
import { Batcher, Rejected } from '../lib/batcher';
import { notFound } from '../lib/errors';
import { type TenantScope, applicationCondition } from '../modules/api-keys/principal';
import { DeliveryAttemptEntity } from '../modules/deliveries/delivery-attempt.entity';
import { DeliveryEntity } from '../modules/deliveries/delivery.entity';
import { EndpointEntity } from '../modules/endpoints/endpoint.entity';
import { EventEntity } from '../modules/events/event.entity';

/**
 * A request's loads of related rows for field resolvers: a delivery's attempts, event and endpoint, an event's
 * deliveries. What the items of a list ask for in one turn of the event loop is one query for all of them
 * (Batcher), not one per item. Nothing is cached, so a long-lived subscription context never serves stale rows.
 * Rows outside the tenant scope are not found, as with the services' lookups.
 */
export class RequestLoaders {
  private readonly attempts: Batcher<string, DeliveryAttemptEntity[]>;
  private readonly deliveries: Batcher<string, DeliveryEntity[]>;
  private readonly events: Batcher<string, EventEntity>;
  private readonly endpoints: Batcher<string, EndpointEntity>;

  constructor(em: EntityManager, scope: TenantScope) {
    // No application is asked for, so the condition is never null (that means one out of scope).
    const inScope = applicationCondition(scope) ?? { application: scope.applicationId };
    this.attempts = new Batcher(async (deliveryIds) => {
      const rows = await em.find(DeliveryAttemptEntity, { delivery: { $in: distinct(deliveryIds) } }, { orderBy: { number: 'asc' } });
      return groupedBy(deliveryIds, rows, (attempt) => attempt.delivery.id);
    });
    this.deliveries = new Batcher(async (eventIds) => {
      const rows = await em.find(DeliveryEntity, { event: { $in: distinct(eventIds) }, ...inScope }, { orderBy: { id: 'asc' } });
      return groupedBy(eventIds, rows, (delivery) => delivery.event.id);
    });
    this.events = new Batcher(async (ids) => {
      const rows = await em.find(EventEntity, { id: { $in: distinct(ids) }, ...inScope });
      return byId(ids, rows, (id) => notFound('event', id));
    });
    this.endpoints = new Batcher(async (ids) => {
      const rows = await em.find(EndpointEntity, { id: { $in: distinct(ids) }, ...inScope });
      return byId(ids, rows, (id) => notFound('endpoint', id));
    });
  }

  /** A delivery's attempts, first to last. */
  attemptsOf(deliveryId: string): Promise<DeliveryAttemptEntity[]> {
    return this.attempts.submit(deliveryId);
  }

  /** An event's deliveries, oldest first. */
  deliveriesOf(eventId: string): Promise<DeliveryEntity[]> {
    return this.deliveries.submit(eventId);
  }

  event(id: string): Promise<EventEntity> {
    return this.events.submit(id);
  }

  endpoint(id: string): Promise<EndpointEntity> {
    return this.endpoints.submit(id);
  }
}

function distinct(ids: string[]): string[] {
  return [...new Set(ids)];
}

/** For each key, the rows that belong to it, in the order the rows came. */
function groupedBy<Row>(keys: string[], rows: Row[], keyOf: (row: Row) => string): Row[][] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return keys.map((key) => groups.get(key) ?? []);
}

/** For each id, its row, or the not-found error of an id that has none in scope. */
function byId<Row extends { id: string }>(ids: string[], rows: Row[], missing: (id: string) => Error): (Row | Rejected)[] {
  const found = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => found.get(id) ?? new Rejected(missing(id)));
}
