import type { EntityManager } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../../config';
import { rerunOnConflict } from '../../db/database-errors';
import { type Sql, execute } from '../../db/sql';
import { type EventToPublish, type StoredEvent, publishEvents } from '../../queue/publish';
import { type Clock, systemClock } from '../../lib/clock';
import { ErrorCode, HeraldError, badInput, notFound } from '../../lib/errors';
import { Batcher, Rejected } from '../../lib/batcher';
import { IdPrefix, newId } from '../../lib/ids';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import { ALL_APPLICATIONS, type TenantScope, applicationCondition } from '../api-keys/principal';
import { DEFAULT_APPLICATION_ID } from '../applications/application.entity';
import { EndpointService } from '../endpoints/endpoint.service';
import { EventEntity } from './event.entity';
import { CatalogService, type EventTypeRow, type EventTypeVersionRow, catalogEntries, catalogTypeNames } from '../catalog/catalog.service';
import { EVENT_VERSION, assertEventType } from './event-type-pattern';
import { findDuplicateKey, findInexactNumber, loneSurrogateAt } from './event-data';

export interface PublishEvent {
  type: string;
  /** The payload as a value (re-serialised with JSON.stringify). Exactly one of data and dataJson. */
  data?: unknown;
  /** The payload as JSON text, stored and delivered byte for byte. */
  dataJson?: string | null;
  version?: string | null;
  applicationId?: string | null;
  idempotencyKey?: string | null;
  orderingKey?: string | null;
  /** Deliver at this time instead of at once (up to DELIVER_AT_MAX_AHEAD_DAYS ahead). */
  deliverAt?: Date | null;
  /** Deliver only to these endpoints of the application (their filters still apply). */
  endpointIds?: string[] | null;
}

export type { StoredEvent };

export interface PublishResult {
  event: StoredEvent;
  /** True when the idempotency key matched an earlier event, which is returned instead. */
  deduplicated: boolean;
  deliveryIds: string[];
}

export const TEST_EVENT_TYPE = 'webhook.test';

/** Herald's own operator events (src/queue/operator-events.ts) are published by Herald only. */
const OPERATOR_TYPE_PREFIX = 'herald.';

/** Most events publishEvents takes at once. */
export const MAX_BATCH = 100;

/** An event ready to be written: what it will store, before the database gives it an id and a time. */
export type PreparedEvent = Omit<EventToPublish, 'id'>;

/** A publish request that passed every check that needs no database; its application is not yet known to exist. */
interface CheckedEvent extends PreparedEvent {
  data: unknown;
  /** Its place in a publishEvents call (for error messages), or null. */
  index: number | null;
}

export class EventService {
  constructor(
    private readonly em: EntityManager,
    private readonly config: Pick<HeraldConfig, 'maxPayloadBytes' | 'catalogStrict' | 'maxDeliverAheadMs'>,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
    private readonly writer: EventWriter | null = null,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * Writes the event, one delivery per enabled endpoint whose filters match, their jobs and the
   * notification in one transaction: all of it exists after the commit, or none of it. With a writer
   * (the API's), concurrent publishes share lookups and transactions; each is still written whole or not at all.
   */
  async publish(input: PublishEvent): Promise<PublishResult> {
    const checked = this.check(input, null);
    if (this.writer) return this.writer.write(checked);
    const events = await resolveEvents(this.em, this.config, [checked], true);
    const [result] = await rerunOnConflict(() => publishPrepared(this.em, events));
    if (result instanceof HeraldError) throw result;
    return result!;
  }

  /**
   * Publishes several events in one transaction: every one of them is written, fanned out and enqueued,
   * or (when any input is invalid or a write fails) none is. Results come back in input order.
   */
  async publishMany(inputs: PublishEvent[]): Promise<PublishResult[]> {
    if (inputs.length < 1 || inputs.length > MAX_BATCH) {
      throw badInput(`"inputs" must hold 1 to ${MAX_BATCH} events; split larger batches.`, { field: 'inputs' });
    }
    const checked = inputs.map((input, index) => this.check(input, index));
    refuseReusedKeys(checked);
    const events = await resolveEvents(this.em, this.config, checked, true);
    const write = async (em: EntityManager): Promise<PublishResult[]> => {
      const written = await publishPrepared(em, events);
      return written.map((result, index) => {
        if (result instanceof HeraldError) throw atIndex(result, index);
        return result;
      });
    };
    // A key may turn out to name a different event only once the events are written (an earlier call's, or a
    // concurrent one's that commits first): the batch then runs in a transaction, so that refusal rolls it all back.
    if (events.some((event) => event.idempotencyKey !== null)) return rerunOnConflict(() => this.em.transactional(write));
    return rerunOnConflict(() => write(this.em));
  }

  /** Every check of one input that needs no database: names, sizes, and the key's application scope. */
  private check(input: PublishEvent, index: number | null): CheckedEvent {
    try {
      assertEventType(input.type);
      if (input.type.startsWith(OPERATOR_TYPE_PREFIX)) {
        throw badInput(`"${OPERATOR_TYPE_PREFIX}*" types are Herald's own operator events: give your event another type.`, {
          field: 'type',
        });
      }
      const version = validateVersion(input.version);
      const idempotencyKey = validateIdempotencyKey(input.idempotencyKey);
      const orderingKey = validateOrderingKey(input.orderingKey);
      const deliverAt = this.validateDeliverAt(input.deliverAt);
      const endpointIds = validateEndpointIds(input.endpointIds);
      const { payload, data } = this.serialiseData(input);
      const applicationId = input.applicationId ?? this.scope.applicationId ?? DEFAULT_APPLICATION_ID;
      if (this.scope.applicationId && applicationId !== this.scope.applicationId) throw notFound('application', applicationId);
      return { applicationId, type: input.type, version, payload, idempotencyKey, orderingKey, deliverAt, endpointIds, data, index };
    } catch (error) {
      throw atIndex(error, index);
    }
  }

  /** A time in the past means at once; one further ahead than the configured limit is refused. */
  private validateDeliverAt(deliverAt: Date | null | undefined): Date | null {
    if (deliverAt == null) return null;
    if (!(deliverAt instanceof Date) || Number.isNaN(deliverAt.getTime()))
      throw badInput('"deliverAt" must be a date and time.', { field: 'deliverAt' });
    const latest = this.clock.now().getTime() + this.config.maxDeliverAheadMs;
    if (deliverAt.getTime() > latest) {
      const days = Math.round((this.config.maxDeliverAheadMs / 86_400_000) * 100) / 100;
      throw badInput(`"deliverAt" may be at most ${days} days ahead (DELIVER_AT_MAX_AHEAD_DAYS); publish closer to the time.`, {
        field: 'deliverAt',
        latest: new Date(latest).toISOString(),
      });
    }
    return deliverAt;
  }

  /**
   * The enabled endpoints of the application that would take an event of this type and version now, through the
   * fan-out's own matcher (herald.event_type_matches, herald.version_pin_matches), in id order.
   */
  async listeners(type: string, version: string | null, applicationId: string | null): Promise<string[]> {
    assertEventType(type);
    const checkedVersion = validateVersion(version);
    const application = applicationId ?? this.scope.applicationId ?? DEFAULT_APPLICATION_ID;
    if (this.scope.applicationId && application !== this.scope.applicationId) throw notFound('application', application);
    const [found] = await execute<{ application: boolean; endpoint_ids: string[] }>(
      this.em,
      `select exists (select 1 from applications a where a.id = ?) as application,
              array(select ep.id from endpoints ep
                     where ep.application_id = ? and ep.enabled
                       and herald.event_type_matches(ep.event_types, ?) and herald.version_pin_matches(ep.event_versions, ?, ?)
                     order by ep.id) as endpoint_ids`,
      [application, application, type, type, checkedVersion],
    );
    if (!found?.application) throw notFound('application', application);
    return found.endpoint_ids;
  }

  /** A `webhook.test` event delivered to this one endpoint, whatever its filters say. */
  async sendTest(endpointId: string): Promise<{ event: StoredEvent; deliveryId: string }> {
    const endpoint = await new EndpointService(this.em, this.scope).requireEnabled(endpointId);
    const data = { message: 'Test event from Herald', endpointId: endpoint.id };
    const test: PreparedEvent = {
      applicationId: endpoint.application.id,
      type: TEST_EVENT_TYPE,
      version: '1.0',
      payload: JSON.stringify(data),
      idempotencyKey: null,
      orderingKey: null,
    };
    // No idempotency key, so never refused.
    const [written] = await rerunOnConflict(() => publishPrepared(this.em, [test], endpoint.id));
    if (!written || written instanceof HeraldError || written.deliveryIds.length !== 1) throw new Error('a test event was not published');
    return { event: written.event, deliveryId: written.deliveryIds[0]! };
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

  /**
   * The payload to store and the value the catalog checks: `data` re-serialised (refused when a number in it could
   * not be kept exactly), or `dataJson` exactly as sent (checked to be one JSON object with distinct keys).
   */
  private serialiseData(input: Pick<PublishEvent, 'data' | 'dataJson'>): { payload: string; data: unknown } {
    const hasData = input.data != null;
    const hasJson = input.dataJson != null;
    if (hasData === hasJson) {
      throw badInput(
        `Give exactly one of "data" (the payload as a JSON object) and "dataJson" (the payload as JSON text, stored byte for byte); this input has ${hasData ? 'both' : 'neither'}.`,
        { field: hasData ? 'dataJson' : 'data', fields: ['data', 'dataJson'] },
      );
    }
    if (hasJson) return { payload: input.dataJson!, data: this.parseDataJson(input.dataJson!) };
    const data = input.data;
    if (typeof data !== 'object' || Array.isArray(data)) {
      throw badInput('"data" must be a JSON object.', { field: 'data' });
    }
    const inexact = findInexactNumber(data, 'data');
    if (inexact) {
      throw badInput(
        `"data" has a number at ${inexact.path} that cannot be kept exactly: ${Number.isFinite(inexact.value) ? 'an integer beyond ±9007199254740991 (2^53−1)' : 'one too large for a double'} loses digits when "data" is parsed (it was read as ${inexact.value}). Send the payload as "dataJson" (JSON text, stored and delivered byte for byte), or the number as a string.`,
        { field: 'data', path: inexact.path },
      );
    }
    const json = JSON.stringify(data);
    this.checkPayloadSize('data', json, ' as JSON');
    return { payload: json, data };
  }

  /** `dataJson`'s value, once the text is checked: valid JSON, one object, no key twice in an object, within the size limit. */
  private parseDataJson(json: string): unknown {
    this.checkPayloadSize('dataJson', json, '');
    const surrogate = loneSurrogateAt(json);
    if (surrogate >= 0) {
      throw badInput(
        `"dataJson" has an unpaired UTF-16 surrogate at character ${surrogate}, which has no UTF-8 form and could not be stored as sent; write it as a \\u escape inside the JSON text.`,
        { field: 'dataJson' },
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw badInput(`"dataJson" is not valid JSON: ${(error as Error).message}.`, { field: 'dataJson' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw badInput('"dataJson" must be the JSON text of one object ({...}).', { field: 'dataJson' });
    }
    const duplicate = findDuplicateKey(json, 'dataJson');
    if (duplicate) {
      throw badInput(
        `"dataJson" has the key ${JSON.stringify(duplicate.key)} twice in the object at ${duplicate.path}; receivers would disagree about its value: send each key once.`,
        { field: 'dataJson', path: duplicate.path },
      );
    }
    return parsed;
  }

  private checkPayloadSize(field: 'data' | 'dataJson', json: string, as: string): void {
    const bytes = Buffer.byteLength(json);
    if (bytes > this.config.maxPayloadBytes) {
      throw new HeraldError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `"${field}" is ${bytes} bytes${as}; the limit is ${this.config.maxPayloadBytes} bytes (MAX_PAYLOAD_BYTES). Send a smaller payload, for example ids the receiver can look up.`,
        { field, bytes, limit: this.config.maxPayloadBytes },
      );
    }
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
    deliverAt: entity.deliverAt,
    createdAt: entity.createdAt,
  };
}

/**
 * Everything a publish batch reads before it writes, in one round trip: which of its applications exist, the
 * catalog entries of its types (with their versions, in creation order). Parameters: application ids, then type names (JSON arrays).
 */
const PUBLISH_LOOKUP = `
  with application_ids as (select json_array_elements_text(?::json) as id),
       type_names as (select json_array_elements_text(?::json) as name),
       endpoint_ids as (select json_array_elements_text(?::json) as id)
  select
    (select coalesce(json_agg(a.id), '[]') from applications a where a.id in (select id from application_ids)) as applications,
    (select coalesce(json_object_agg(ep.id, ep.application_id), '{}') from endpoints ep where ep.id in (select id from endpoint_ids)) as endpoints,
    (select coalesce(json_agg(t), '[]') from event_types t where t.name in (select name from type_names)) as types,
    (select coalesce(json_agg(v order by v.created_at, v.version), '[]')
       from event_type_versions v where v.event_type in (select name from type_names)) as versions`;

interface PublishLookup {
  applications: string[];
  /** The application of each endpoint named in endpointIds. */
  endpoints: Record<string, string>;
  types: EventTypeRow[];
  versions: EventTypeVersionRow[];
}

/**
 * Publishes through the one fan-out (publishEvents, herald.publish_events). Results come back in input order; an
 * event whose idempotency key already names a different event comes back as its IDEMPOTENCY_KEY_REUSED error, with
 * nothing written for it (the others are written: a caller that must write all or none runs this in its transaction
 * and rolls back).
 */
async function publishPrepared(db: Sql, prepared: PreparedEvent[], toEndpoint: string | null = null): Promise<Written[]> {
  const published = await publishEvents(
    db,
    prepared.map((event) => ({ ...event, id: newId(IdPrefix.event) })),
    toEndpoint,
  );
  return published.map(({ inserted, deliveryIds, ...event }, index) => {
    if (inserted) return { event, deduplicated: false, deliveryIds };
    return keyReusedBy(prepared[index]!, event) ?? { event, deduplicated: true, deliveryIds: [] };
  });
}

/** One event's publish: its result, or its refusal (IDEMPOTENCY_KEY_REUSED) with nothing written for it. */
type Written = PublishResult | HeraldError;

/** The fields an idempotency key's event and a later request with the key must agree on (payload: as stored). */
const SAME_EVENT_FIELDS = ['type', 'version', 'payload', 'orderingKey'] as const;

/** The fields in which `event` differs from `earlier` by their names in the API (`data` for the stored payload). */
function differingFields(event: Pick<PreparedEvent, (typeof SAME_EVENT_FIELDS)[number]>, earlier: typeof event): string[] {
  return SAME_EVENT_FIELDS.filter((field) => event[field] !== earlier[field]).map((field) => (field === 'payload' ? 'data' : field));
}

/** IDEMPOTENCY_KEY_REUSED when a request with an earlier event's key is not that event; null for an exact repeat. */
function keyReusedBy(event: PreparedEvent, earlier: StoredEvent): HeraldError | null {
  const differs = differingFields(event, earlier);
  if (differs.length === 0) return null;
  return new HeraldError(
    ErrorCode.IDEMPOTENCY_KEY_REUSED,
    `idempotencyKey ${JSON.stringify(event.idempotencyKey)} already names event ${earlier.id}, which has a different ${differs.join(', ')}; an idempotency key names one event: give a different event its own key (or none), or repeat the first event exactly to get it back.`,
    { field: 'idempotencyKey', idempotencyKey: event.idempotencyKey, eventId: earlier.id, differs },
  );
}

/**
 * Loads events by id for subscriptions: the loads asked for in one turn of the event loop (the
 * notifications of one publish transaction arrive together) are one query. Unscoped: the subscriptions
 * have checked what each subscriber may see.
 */
export class EventReader {
  private readonly batcher: Batcher<string, StoredEvent>;

  constructor(newEntityManager: () => EntityManager) {
    this.batcher = new Batcher(async (ids) => {
      const rows = await newEntityManager().find(EventEntity, { id: { $in: [...new Set(ids)] } });
      const byId = new Map(rows.map((row) => [row.id, toStoredEvent(row)]));
      return ids.map((id) => byId.get(id) ?? new Rejected(notFound('event', id)));
    });
  }

  get(id: string): Promise<StoredEvent> {
    return this.batcher.submit(id);
  }
}

/**
 * Coalesces concurrent publishes (see Batcher) into shared transactions: under load, many publish calls
 * cost one commit. Each publish is still all-or-nothing: a batch that fails is retried event by event.
 */
export class EventWriter {
  private readonly batcher: Batcher<CheckedEvent, PublishResult>;

  constructor(newEntityManager: () => EntityManager, config: Pick<HeraldConfig, 'catalogStrict'>) {
    this.batcher = new Batcher(async (checked) => {
      const em = newEntityManager();
      const resolved = await resolveEvents(em, config, checked, false);
      const valid = resolved.filter((event): event is PreparedEvent => !(event instanceof Error));
      const written = await rerunOnConflict(() => publishPrepared(em, valid));
      let next = 0;
      // A refusal (an invalid event, or a key that names a different event) fails its own call; the others stand.
      return resolved.map((event) => {
        const result = event instanceof Error ? event : written[next++]!;
        return result instanceof Error ? new Rejected(result) : result;
      });
    }, MAX_BATCH);
  }

  write(checked: CheckedEvent): Promise<PublishResult> {
    return this.batcher.submit(checked);
  }
}

/**
 * The database's checks of checked events, one query for the lot (PUBLISH_LOOKUP): each application exists,
 * and each payload is one its catalog entry allows. With
 * `throwFirst` the first refusal is thrown (the whole batch fails); otherwise each refused event comes back as
 * its error, in place.
 */
async function resolveEvents(
  em: EntityManager,
  config: Pick<HeraldConfig, 'catalogStrict'>,
  checked: CheckedEvent[],
  throwFirst: true,
): Promise<PreparedEvent[]>;
async function resolveEvents(
  em: EntityManager,
  config: Pick<HeraldConfig, 'catalogStrict'>,
  checked: CheckedEvent[],
  throwFirst: false,
): Promise<Array<PreparedEvent | HeraldError>>;
async function resolveEvents(
  em: EntityManager,
  config: Pick<HeraldConfig, 'catalogStrict'>,
  checked: CheckedEvent[],
  throwFirst: boolean,
): Promise<Array<PreparedEvent | HeraldError>> {
  const applicationIds = [...new Set(checked.map((event) => event.applicationId))];
  const typeNames = catalogTypeNames(checked.map((event) => event.type));
  const endpointIds = [...new Set(checked.flatMap((event) => event.endpointIds ?? []))];
  const [lookup] = await execute<PublishLookup>(em, PUBLISH_LOOKUP, [
    JSON.stringify(applicationIds),
    JSON.stringify(typeNames),
    JSON.stringify(endpointIds),
  ]);
  const known = new Set(lookup!.applications);
  const catalog = new CatalogService(em, config);
  const entries = catalogEntries(lookup!.types, lookup!.versions);
  const events = checked.map((event) => {
    try {
      if (!known.has(event.applicationId)) throw notFound('application', event.applicationId);
      const foreign = event.endpointIds?.find((id) => lookup!.endpoints[id] !== event.applicationId);
      if (foreign !== undefined) {
        throw new HeraldError(
          ErrorCode.NOT_FOUND,
          `"endpointIds": no endpoint with id "${foreign}" exists in application "${event.applicationId}".`,
          {
            field: 'endpointIds',
            id: foreign,
          },
        );
      }
      catalog.checkPublishable(entries.get(event.type) ?? null, event.type, event.version, event.data);
      const { applicationId, type, version, payload, idempotencyKey, orderingKey, deliverAt, endpointIds } = event;
      return { applicationId, type, version, payload, idempotencyKey, orderingKey, deliverAt, endpointIds };
    } catch (error) {
      const located = atIndex(error, event.index);
      if (throwFirst || !(located instanceof HeraldError)) throw located;
      return located;
    }
  });
  return events;
}

/**
 * An idempotency key names one event: two inputs of a batch with the same key (in the same application) must be
 * the same event, or the batch is refused, naming both. An exact repeat is published once, as a repeated call is.
 */
function refuseReusedKeys(checked: CheckedEvent[]): void {
  const firstByKey = new Map<string, CheckedEvent>();
  for (const event of checked) {
    if (event.idempotencyKey === null) continue;
    const key = JSON.stringify([event.applicationId, event.idempotencyKey]);
    const first = firstByKey.get(key);
    if (!first) {
      firstByKey.set(key, event);
      continue;
    }
    const fields = differingFields(event, first);
    if (fields.length === 0) continue;
    throw new HeraldError(
      ErrorCode.IDEMPOTENCY_KEY_REUSED,
      `inputs[${first.index}] and inputs[${event.index}] have the same idempotencyKey ${JSON.stringify(event.idempotencyKey)} but different ${fields.join(', ')}; an idempotency key names one event: give each event its own key.`,
      { field: 'idempotencyKey', indexes: [first.index, event.index], idempotencyKey: event.idempotencyKey, differs: fields },
    );
  }
}

/** An error about one input of a batch says which. */
function atIndex(error: unknown, index: number | null): unknown {
  if (index === null || !(error instanceof HeraldError)) return error;
  return new HeraldError(error.code, `inputs[${index}]: ${error.message}`, { ...error.details, index });
}

function validateVersion(version: string | null | undefined): string {
  if (version == null) return '1.0';
  if (!EVENT_VERSION.test(version)) {
    throw badInput('"version" must be 1 to 32 letters, digits, ".", "_" or "-" (for example "1.0").', { field: 'version' });
  }
  return version;
}

/** Endpoints to deliver to, named once each; null: every endpoint of the application. */
function validateEndpointIds(ids: string[] | null | undefined): string[] | null {
  if (ids == null) return null;
  if (ids.length < 1 || ids.length > 100) {
    throw badInput('"endpointIds" must name 1 to 100 endpoints (leave it out to deliver to every matching endpoint).', {
      field: 'endpointIds',
    });
  }
  const unique = [...new Set(ids)];
  return unique;
}

function validateOrderingKey(key: string | null | undefined): string | null {
  if (key == null) return null;
  if (!isKeyLength(key)) throw badInput('"orderingKey" must be 1 to 255 characters.', { field: 'orderingKey' });
  return key;
}

function validateIdempotencyKey(key: string | null | undefined): string | null {
  if (key == null) return null;
  if (!isKeyLength(key)) throw badInput('"idempotencyKey" must be 1 to 255 characters.', { field: 'idempotencyKey' });
  return key;
}

/**
 * 1 to 255 characters counted as PostgreSQL's length() counts them (code points, not UTF-16 units), so a key the
 * SQL function herald.publish_event accepts is accepted here too.
 */
function isKeyLength(key: string): boolean {
  // A string has at least as many UTF-16 units as code points: only a longer one needs counting.
  return key.length > 0 && (key.length <= 255 || [...key].length <= 255);
}
