import { type Sql, execute, notify, toDate } from '../db/sql';
import { pendingMessage } from './requeue';

/** An event as stored. */
export interface StoredEvent {
  id: string;
  applicationId: string;
  type: string;
  version: string;
  /** The payload's JSON text, stored and delivered byte for byte. */
  payload: string;
  idempotencyKey: string | null;
  orderingKey: string | null;
  /** When its deliveries were due, for an event published for later; null: at once. */
  deliverAt?: Date | null;
  createdAt: Date;
}

/** An event to publish, as herald.publish_events takes it (its id made by the caller, so ids sort in publish order). */
export interface EventToPublish extends Omit<StoredEvent, 'createdAt' | 'deliverAt'> {
  /** When its deliveries are due (default: now). */
  deliverAt?: Date | null;
  /** Only these endpoints of its application (their filters still apply); default: every endpoint. */
  endpointIds?: string[] | null;
}

/** An input's stored event: the one inserted, or (`inserted` false) the earlier event its idempotency key names. */
export interface PublishedEvent extends StoredEvent {
  inserted: boolean;
  /** Its deliveries, in endpoint id order; none for an event not inserted. */
  deliveryIds: string[];
}

interface PublishedRow {
  id: string;
  application_id: string;
  type: string;
  version: string;
  /** Null for an inserted event: its payload is the one sent. */
  payload: string | null;
  idempotency_key: string | null;
  ordering_key: string | null;
  created_at: string | Date;
  inserted: boolean;
  delivery_ids: string[];
}

/**
 * Publishes through the database's one fan-out, `herald.publish_events` (the function SQL producers call too): in one
 * statement, atomic, the events, one delivery per enabled endpoint whose filters and version pins take each (FIFO
 * groups entered under their locks), the deliveries' jobs and one notification per event. An idempotency key already
 * used in the application inserts nothing and returns that event. `toEndpoint`: deliver to that one endpoint, whatever
 * its filters, outside any FIFO group (sendTestEvent). Results in input order.
 */
export async function publishEvents(db: Sql, events: EventToPublish[], toEndpoint: string | null = null): Promise<PublishedEvent[]> {
  if (events.length === 0) return [];
  // An inserted event's payload is the one sent: it does not travel back.
  const rows = await execute<PublishedRow>(
    db,
    `select id, application_id, type, version, case when inserted then null else payload end as payload, idempotency_key,
            ordering_key, created_at, inserted, delivery_ids
       from herald.publish_events(?::json)`,
    [
      JSON.stringify(
        events.map((event) => ({
          id: event.id,
          application_id: event.applicationId,
          type: event.type,
          version: event.version,
          payload: event.payload,
          idempotency_key: event.idempotencyKey,
          ordering_key: event.orderingKey,
          to_endpoint: toEndpoint,
          deliver_at: event.deliverAt?.toISOString() ?? null,
          endpoint_ids: event.endpointIds ?? null,
        })),
      ),
    ],
  );
  return rows.map((row, index) => ({
    id: row.id,
    applicationId: row.application_id,
    type: row.type,
    version: row.version,
    payload: row.payload ?? events[index]!.payload,
    idempotencyKey: row.idempotency_key,
    orderingKey: row.ordering_key,
    ...(row.inserted ? { deliverAt: events[index]!.deliverAt ?? null } : {}),
    createdAt: toDate(row.created_at),
    inserted: row.inserted,
    deliveryIds: row.delivery_ids,
  }));
}

/**
 * Fans the events of the endpoint's application published since `since` that it has no delivery of out to it alone,
 * through the one fan-out (`herald.fan_out`: its filters, version pins and FIFO groups apply), at most `limit`
 * events, oldest first, and notifies each new delivery. Returns how many deliveries it made.
 */
export async function fanOutMissedEvents(
  db: Sql,
  endpoint: { id: string; applicationId: string },
  since: Date,
  limit: number,
): Promise<number> {
  const fanned = await execute<{ event_id: string; delivery_ids: string[] }>(
    db,
    `select f.event_id, f.delivery_ids from herald.fan_out(array(
       select e.id from events e
       where e.application_id = ? and e.created_at >= ?
         and not exists (select 1 from deliveries d where d.event_id = e.id and d.endpoint_id = ?)
       order by e.created_at, e.id limit ?), ?) f`,
    [endpoint.applicationId, since, endpoint.id, limit, endpoint.id],
  );
  const messages = fanned.flatMap(({ event_id: eventId, delivery_ids: ids }) =>
    ids.map((deliveryId) => pendingMessage({ deliveryId, eventId, endpointId: endpoint.id, applicationId: endpoint.applicationId })),
  );
  await notify(db, messages);
  return messages.length;
}
