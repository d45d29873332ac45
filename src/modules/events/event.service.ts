import type { EntityManager } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../../config';
import { addJobs, execute, notify, toDate } from '../../db/sql';
import { ErrorCode, HeraldError, badInput, notFound } from '../../lib/errors';
import { IdPrefix, newId } from '../../lib/ids';
import { type Connection, type PageRequest, toConnection } from '../../graphql/pagination';
import { ALL_APPLICATIONS, type TenantScope, applicationCondition } from '../api-keys/principal';
import { ApplicationService } from '../applications/application.service';
import { deliverJob } from '../deliveries/deliver-job';
import { enterGroup, orderingGroup } from '../deliveries/ordering';
import { EndpointService } from '../endpoints/endpoint.service';
import { EventEntity } from './event.entity';
import { CatalogService } from '../catalog/catalog.service';
import { assertEventType, matchesEventType, matchesVersionPin } from './event-type';

export interface PublishEvent {
  type: string;
  data: unknown;
  version?: string | null;
  applicationId?: string | null;
  idempotencyKey?: string | null;
  orderingKey?: string | null;
}

export interface StoredEvent {
  id: string;
  applicationId: string;
  type: string;
  version: string;
  payload: string;
  idempotencyKey: string | null;
  orderingKey: string | null;
  createdAt: Date;
}

export interface PublishResult {
  event: StoredEvent;
  /** True when the idempotency key matched an earlier event, which is returned instead. */
  deduplicated: boolean;
  deliveryIds: string[];
}

export const TEST_EVENT_TYPE = 'webhook.test';

/** Most events publishEvents takes at once. */
export const MAX_BATCH = 100;

interface PreparedEvent {
  applicationId: string;
  type: string;
  version: string;
  payload: string;
  idempotencyKey: string | null;
  orderingKey: string | null;
}

export class EventService {
  constructor(
    private readonly em: EntityManager,
    private readonly config: Pick<HeraldConfig, 'maxPayloadBytes' | 'catalogStrict'>,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
  ) {}

  /**
   * Writes the event, one delivery per enabled endpoint whose filters match, their jobs and the
   * notification in one transaction: all of it exists after the commit, or none of it.
   */
  async publish(input: PublishEvent): Promise<PublishResult> {
    const prepared = await this.prepare(input);
    return this.em.transactional((em) => writeEvent(em, prepared));
  }

  /**
   * Publishes several events in one transaction: every one of them is written, fanned out and enqueued,
   * or (when any input is invalid or a write fails) none is. Results come back in input order.
   */
  async publishMany(inputs: PublishEvent[]): Promise<PublishResult[]> {
    if (inputs.length < 1 || inputs.length > MAX_BATCH) {
      throw badInput(`"inputs" must hold 1 to ${MAX_BATCH} events; split larger batches.`, { field: 'inputs' });
    }
    const prepared: PreparedEvent[] = [];
    for (const [index, input] of inputs.entries()) {
      try {
        prepared.push(await this.prepare(input));
      } catch (error) {
        if (error instanceof HeraldError) {
          throw new HeraldError(error.code, `inputs[${index}]: ${error.message}`, { ...error.details, index });
        }
        throw error;
      }
    }
    return this.em.transactional(async (em) => {
      const results: PublishResult[] = [];
      for (const event of prepared) results.push(await writeEvent(em, event));
      return results;
    });
  }

  private async prepare(input: PublishEvent): Promise<PreparedEvent> {
    assertEventType(input.type);
    const version = validateVersion(input.version);
    const idempotencyKey = validateIdempotencyKey(input.idempotencyKey);
    const orderingKey = validateOrderingKey(input.orderingKey);
    const payload = this.serialiseData(input.data);
    const application = await new ApplicationService(this.em, this.scope).resolve(input.applicationId);
    await new CatalogService(this.em, this.config).assertPublishable(input.type, version, input.data);
    return { applicationId: application.id, type: input.type, version, payload, idempotencyKey, orderingKey };
  }

  /** A `webhook.test` event delivered to this one endpoint, whatever its filters say. */
  async sendTest(endpointId: string): Promise<{ event: StoredEvent; deliveryId: string }> {
    const endpoint = await new EndpointService(this.em, this.scope).requireEnabled(endpointId);
    const data = { message: 'Test event from Herald', endpointId: endpoint.id };
    return this.em.transactional(async (em) => {
      const { row } = await insertEvent(em, {
        applicationId: endpoint.application.id,
        type: TEST_EVENT_TYPE,
        version: '1.0',
        payload: JSON.stringify(data),
        idempotencyKey: null,
        orderingKey: null,
      });
      const [deliveryId] = await createDeliveries(em, row, [{ id: endpoint.id, ordered: false }]);
      return { event: row, deliveryId: deliveryId! };
    });
  }

  async get(id: string): Promise<StoredEvent> {
    const condition = applicationCondition(this.scope);
    const event = condition ? await this.em.findOne(EventEntity, { id, ...condition }) : null;
    if (!event) throw notFound('event', id);
    return toStoredEvent(event);
  }

  async list(
    filter: { applicationId?: string | null; type?: string | null; createdAfter?: Date | null; createdBefore?: Date | null },
    page: PageRequest,
  ): Promise<Connection<StoredEvent>> {
    const condition = applicationCondition(this.scope, filter.applicationId);
    if (!condition) return toConnection([], page, toStoredEvent);
    const where: Record<string, unknown> = { ...condition };
    if (filter.type) where.type = filter.type;
    const createdAt: Record<string, Date> = {};
    if (filter.createdAfter) createdAt.$gte = filter.createdAfter;
    if (filter.createdBefore) createdAt.$lt = filter.createdBefore;
    if (Object.keys(createdAt).length > 0) where.createdAt = createdAt;
    if (page.afterId) where.id = { $lt: page.afterId };
    const rows = await this.em.find(EventEntity, where, { orderBy: { id: 'desc' }, limit: page.limit + 1 });
    return toConnection(rows, page, toStoredEvent);
  }

  private serialiseData(data: unknown): string {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) {
      throw badInput('"data" must be a JSON object.', { field: 'data' });
    }
    const json = JSON.stringify(data);
    const bytes = Buffer.byteLength(json);
    if (bytes > this.config.maxPayloadBytes) {
      throw new HeraldError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `"data" is ${bytes} bytes as JSON; the limit is ${this.config.maxPayloadBytes} bytes (MAX_PAYLOAD_BYTES). Send a smaller payload, for example ids the receiver can look up.`,
        { field: 'data', bytes, limit: this.config.maxPayloadBytes },
      );
    }
    return json;
  }
}

function toStoredEvent(entity: EventEntity): StoredEvent {
  return {
    id: entity.id,
    applicationId: entity.application.id,
    type: entity.type,
    version: entity.version,
    payload: entity.payload,
    idempotencyKey: entity.idempotencyKey,
    orderingKey: entity.orderingKey,
    createdAt: entity.createdAt,
  };
}

interface EventRow {
  id: string;
  application_id: string;
  type: string;
  version: string;
  payload: string;
  idempotency_key: string | null;
  ordering_key: string | null;
  created_at: string | Date;
}

function fromRow(row: EventRow): StoredEvent {
  return {
    id: row.id,
    applicationId: row.application_id,
    type: row.type,
    version: row.version,
    payload: row.payload,
    idempotencyKey: row.idempotency_key,
    orderingKey: row.ordering_key,
    createdAt: toDate(row.created_at),
  };
}

/** One event's writes on the caller's transaction: the event, its deliveries, their jobs, the notification. */
async function writeEvent(em: EntityManager, prepared: PreparedEvent): Promise<PublishResult> {
  const event = await insertEvent(em, prepared);
  if (!event.inserted) return { event: event.row, deduplicated: true, deliveryIds: [] };
  const endpoints = await execute<{ id: string; event_types: string[]; event_versions: Record<string, string>; ordered: boolean }>(
    em,
    'select id, event_types, event_versions, ordered from endpoints where application_id = ? and enabled order by id',
    [prepared.applicationId],
  );
  const targets = endpoints
    .filter(
      (endpoint) =>
        matchesEventType(endpoint.event_types, prepared.type) &&
        matchesVersionPin(endpoint.event_versions, prepared.type, prepared.version),
    )
    .map((endpoint) => ({ id: endpoint.id, ordered: endpoint.ordered }));
  const deliveryIds = await createDeliveries(em, event.row, targets);
  return { event: event.row, deduplicated: false, deliveryIds };
}

/**
 * Inserts the event; with an idempotency key already used in this application, returns the earlier
 * event instead. A concurrent publish with the same key waits on the unique index, then finds the winner.
 */
async function insertEvent(
  em: EntityManager,
  event: {
    applicationId: string;
    type: string;
    version: string;
    payload: string;
    idempotencyKey: string | null;
    orderingKey: string | null;
  },
): Promise<{ row: StoredEvent; inserted: boolean }> {
  const inserted = await execute<EventRow>(
    em,
    `insert into events (id, application_id, type, version, payload, idempotency_key, ordering_key, created_at)
     values (?, ?, ?, ?, ?, ?, ?, now())
     on conflict (application_id, idempotency_key) do nothing
     returning *`,
    [newId(IdPrefix.event), event.applicationId, event.type, event.version, event.payload, event.idempotencyKey, event.orderingKey],
  );
  if (inserted[0]) return { row: fromRow(inserted[0]), inserted: true };
  const [existing] = await execute<EventRow>(em, 'select * from events where application_id = ? and idempotency_key = ?', [
    event.applicationId,
    event.idempotencyKey,
  ]);
  if (!existing) throw new Error('idempotency conflict without an existing event');
  return { row: fromRow(existing), inserted: false };
}

/**
 * One delivery per endpoint. An ordered delivery (see ordering.ts) gets its group's next sequence number
 * and a job only when nothing before it in the group is unfinished; otherwise its predecessor enqueues it.
 */
async function createDeliveries(
  em: EntityManager,
  event: StoredEvent,
  endpoints: Array<{ id: string; ordered: boolean }>,
): Promise<string[]> {
  const deliveries: Array<{ id: string; endpoint_id: string; ordering_group: string | null; sequence: number | null; start: boolean }> = [];
  for (const endpoint of endpoints) {
    const group = orderingGroup(endpoint.id, endpoint.ordered, event.orderingKey);
    const entry = group ? await enterGroup(em, group) : null;
    deliveries.push({
      id: newId(IdPrefix.delivery),
      endpoint_id: endpoint.id,
      ordering_group: group,
      sequence: entry?.sequence ?? null,
      start: entry?.startNow ?? true,
    });
  }
  if (deliveries.length > 0) {
    await execute(
      em,
      `insert into deliveries (id, event_id, endpoint_id, application_id, event_type, status, attempt_count, next_attempt_at,
                               ordering_group, sequence, created_at, updated_at)
       select d.id, ?, d.endpoint_id, ?, ?, 'PENDING', 0, now(), d.ordering_group, d.sequence, now(), now()
       from json_to_recordset(?::json) as d(id text, endpoint_id text, ordering_group text, sequence bigint)`,
      [event.id, event.applicationId, event.type, JSON.stringify(deliveries)],
    );
    await addJobs(
      em,
      deliveries.filter((delivery) => delivery.start).map((delivery) => deliverJob(delivery.id, 1)),
    );
  }
  await notify(em, { kind: 'event', eventId: event.id, applicationId: event.applicationId, type: event.type });
  return deliveries.map((delivery) => delivery.id);
}

function validateVersion(version: string | null | undefined): string {
  if (version == null) return '1.0';
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(version)) {
    throw badInput('"version" must be 1 to 32 letters, digits, ".", "_" or "-" (for example "1.0").', { field: 'version' });
  }
  return version;
}

function validateOrderingKey(key: string | null | undefined): string | null {
  if (key == null) return null;
  if (key.length < 1 || key.length > 255) throw badInput('"orderingKey" must be 1 to 255 characters.', { field: 'orderingKey' });
  return key;
}

function validateIdempotencyKey(key: string | null | undefined): string | null {
  if (key == null) return null;
  if (key.length < 1 || key.length > 255) throw badInput('"idempotencyKey" must be 1 to 255 characters.', { field: 'idempotencyKey' });
  return key;
}
