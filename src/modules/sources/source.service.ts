import { ALL_APPLICATIONS, type TenantScope, applicationCondition, canSee } from '../api-keys/principal';
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../../config';
import { type InboundScheme, InboundSignatureError, verifyInbound } from '../../delivery/inbound-signature';
import { generateSecret, isValidSecret } from '../../delivery/signature';
import { redactHeaders } from '../../delivery/webhook-request';
import { execute, toDate } from '../../db/sql';
import type { SecretBox } from '../../lib/encryption';
import { badInput, notFound } from '../../lib/errors';
import { IdPrefix, newId } from '../../lib/ids';
import { ApplicationService } from '../applications/application.service';
import { recordAudit } from '../audit/audit.service';
import { assertEventType } from '../events/event-type-pattern';
import { EventService } from '../events/event.service';
import { EVENT_TYPE } from '../events/event-type-pattern';

export const INBOUND_SCHEMES: readonly InboundScheme[] = ['STANDARD_WEBHOOKS', 'GITHUB', 'STRIPE', 'HMAC'];

/** The encryption context of a source's secret: a ciphertext copied to another row does not decrypt. */
export const sourceSecretContext = (sourceId: string) => `source:${sourceId}`;

export interface Source {
  id: string;
  applicationId: string;
  name: string;
  scheme: InboundScheme;
  hmacHeader: string | null;
  eventTypeHeader: string | null;
  eventTypePath: string | null;
  eventTypePrefix: string;
  defaultEventType: string | null;
  createdAt: Date;
}

export interface CreateSource {
  name: string;
  scheme: InboundScheme;
  applicationId?: string | null;
  secret?: string | null;
  hmacHeader?: string | null;
  eventTypeHeader?: string | null;
  eventTypePath?: string | null;
  eventTypePrefix?: string | null;
  defaultEventType?: string | null;
}

/** Where each scheme's senders put the event type, unless the source says otherwise. */
const SCHEME_DEFAULTS: Record<InboundScheme, { header: string | null; path: string | null; prefix: string }> = {
  GITHUB: { header: 'x-github-event', path: null, prefix: 'github.' },
  STRIPE: { header: null, path: 'type', prefix: 'stripe.' },
  STANDARD_WEBHOOKS: { header: null, path: 'type', prefix: '' },
  HMAC: { header: null, path: null, prefix: '' },
};

export type IngestResult =
  | { status: 'accepted'; inboundRequestId: string; eventId: string; deduplicated: boolean }
  | { status: 'unknown_source' }
  | { status: 'bad_signature'; message: string }
  | { status: 'no_event_type'; message: string };

/** Inbound sources: third parties' webhooks verified by their scheme and re-published as Herald events. */
export class SourceService {
  constructor(
    private readonly em: EntityManager,
    private readonly config: Pick<HeraldConfig, 'maxPayloadBytes' | 'catalogStrict' | 'maxDeliverAheadMs'>,
    /** Seals secrets at rest, as endpoints' are (AES-256-GCM, HERALD_ENCRYPTION_KEY). */
    private readonly secrets: SecretBox,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
  ) {}

  async create(input: CreateSource): Promise<{ source: Source; secret: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw badInput('A source name must be 1 to 200 characters.', { field: 'name' });
    if (!INBOUND_SCHEMES.includes(input.scheme))
      throw badInput(`"scheme" must be one of ${INBOUND_SCHEMES.join(', ')}.`, { field: 'scheme' });
    const application = await new ApplicationService(this.em, this.scope).resolve(input.applicationId);
    const secret = input.secret ?? (input.scheme === 'STANDARD_WEBHOOKS' ? generateSecret() : randomBytes(32).toString('hex'));
    if (input.scheme === 'STANDARD_WEBHOOKS' && !isValidSecret(secret)) {
      throw badInput('A STANDARD_WEBHOOKS source needs a "whsec_" secret (base64 of 24 to 64 bytes); omit it to have one generated.', {
        field: 'secret',
      });
    }
    if (secret.length < 8 || secret.length > 200) throw badInput('"secret" must be 8 to 200 characters.', { field: 'secret' });
    const defaults = SCHEME_DEFAULTS[input.scheme];
    const eventTypeHeader = (input.eventTypeHeader ?? defaults.header)?.toLowerCase() ?? null;
    const eventTypePath = input.eventTypePath ?? defaults.path;
    const eventTypePrefix = input.eventTypePrefix ?? defaults.prefix;
    if (input.defaultEventType != null) assertEventType(input.defaultEventType, 'defaultEventType');
    if (!eventTypeHeader && !eventTypePath && !input.defaultEventType) {
      throw badInput('Say where the event type comes from: "eventTypeHeader", "eventTypePath" or "defaultEventType".', {
        field: 'eventTypePath',
      });
    }
    if (eventTypePath != null && !/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(eventTypePath)) {
      throw badInput('"eventTypePath" must be a dotted path into the JSON body, for example "type" or "event.name".', {
        field: 'eventTypePath',
      });
    }
    if (eventTypePrefix.length > 64 || !/^[A-Za-z0-9._:-]*$/.test(eventTypePrefix)) {
      throw badInput('"eventTypePrefix" may hold up to 64 letters, digits, ".", "_", ":" or "-".', { field: 'eventTypePrefix' });
    }
    const id = newId(IdPrefix.source);
    return this.em.transactional(async (em) => {
      await execute(
        em,
        `insert into sources (id, application_id, name, scheme, secret, hmac_header, event_type_header, event_type_path, event_type_prefix, default_event_type)
       values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          id,
          application.id,
          name,
          input.scheme,
          this.secrets.encrypt(secret, sourceSecretContext(id)),
          input.hmacHeader?.toLowerCase() ?? null,
          eventTypeHeader,
          eventTypePath,
          eventTypePrefix,
          input.defaultEventType ?? null,
        ],
      );
      const source = await new SourceService(em, this.config, this.secrets, this.scope).get(id);
      await recordAudit(em, this.scope, {
        action: 'source.created',
        targetType: 'source',
        targetId: id,
        applicationId: source.applicationId,
        after: source,
      });
      return { source, secret };
    });
  }

  async get(id: string): Promise<Source> {
    const [row] = await execute<SourceRow>(this.em, 'select * from sources where id = ?', [id]);
    // Another tenant's source is "not found", never "forbidden": its existence is not revealed.
    if (!row || !canSee(this.scope, row.application_id)) throw notFound('source', id);
    return fromRow(row);
  }

  async list(requestedApplicationId?: string | null): Promise<Source[]> {
    const condition = applicationCondition(this.scope, requestedApplicationId);
    if (condition === null) return [];
    const applicationId = condition.application;
    const rows = applicationId
      ? await execute<SourceRow>(this.em, 'select * from sources where application_id = ? order by id desc', [applicationId])
      : await execute<SourceRow>(this.em, 'select * from sources order by id desc');
    return rows.map(fromRow);
  }

  async delete(id: string): Promise<void> {
    const before = await this.get(id);
    await this.em.transactional(async (em) => {
      await execute(em, 'delete from sources where id = ?', [id]);
      await recordAudit(em, this.scope, {
        action: 'source.deleted',
        targetType: 'source',
        targetId: id,
        applicationId: before.applicationId,
        before,
      });
    });
  }

  /**
   * Verifies a request to /ingest/<sourceId>, then in one transaction stores the raw request and
   * publishes it as an event (deliveries and jobs included). Bad signatures store nothing.
   */
  async ingest(sourceId: string, body: Buffer, headers: Record<string, string | string[] | undefined>): Promise<IngestResult> {
    const [row] = await execute<SourceRow>(this.em, 'select * from sources where id = ?', [sourceId]);
    if (!row) return { status: 'unknown_source' };
    const source = fromRow(row);
    let messageId: string | null;
    try {
      const secret = this.secrets.decrypt(row.secret, sourceSecretContext(row.id));
      messageId = verifyInbound(source.scheme, { secret, hmacHeader: source.hmacHeader }, body, headers).messageId;
    } catch (error) {
      if (error instanceof InboundSignatureError) return { status: 'bad_signature', message: error.message };
      throw error;
    }
    const text = body.toString('utf8');
    const parsed = parseJson(text);
    const type = eventTypeOf(source, parsed, headers);
    if (!type.ok) return { status: 'no_event_type', message: type.message };
    // A JSON object is published as the provider's own bytes (numbers and key order kept); anything else is wrapped.
    const payload =
      parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? { dataJson: text } : { data: { body: parsed ?? text } };
    const storedHeaders = Object.fromEntries(
      Object.entries(redactHeaders(flattenHeaders(headers))).filter(([name]) => !/^(host|connection|content-length)$/i.test(name)),
    );

    return this.em.transactional(async (em) => {
      const inboundRequestId = newId(IdPrefix.inboundRequest);
      await execute(em, 'insert into inbound_requests (id, source_id, headers, body) values (?, ?, ?::jsonb, ?)', [
        inboundRequestId,
        source.id,
        JSON.stringify(storedHeaders),
        text,
      ]);
      const published = await new EventService(em, this.config).publish({
        type: type.value,
        ...payload,
        applicationId: source.applicationId,
        // Providers retry: the same message id must not become a second event.
        idempotencyKey: messageId ? `source:${source.id}:${messageId}`.slice(0, 255) : null,
      });
      await execute(em, 'update inbound_requests set event_id = ? where id = ?', [published.event.id, inboundRequestId]);
      return { status: 'accepted' as const, inboundRequestId, eventId: published.event.id, deduplicated: published.deduplicated };
    });
  }
}

interface SourceRow {
  id: string;
  application_id: string;
  name: string;
  scheme: InboundScheme;
  secret: string;
  hmac_header: string | null;
  event_type_header: string | null;
  event_type_path: string | null;
  event_type_prefix: string;
  default_event_type: string | null;
  created_at: string | Date;
}

function fromRow(row: SourceRow): Source {
  return {
    id: row.id,
    applicationId: row.application_id,
    name: row.name,
    scheme: row.scheme,
    hmacHeader: row.hmac_header,
    eventTypeHeader: row.event_type_header,
    eventTypePath: row.event_type_path,
    eventTypePrefix: row.event_type_prefix,
    defaultEventType: row.default_event_type,
    createdAt: toDate(row.created_at),
  };
}

function eventTypeOf(
  source: Source,
  body: unknown,
  headers: Record<string, string | string[] | undefined>,
): { ok: true; value: string } | { ok: false; message: string } {
  let found: string | null = null;
  if (source.eventTypeHeader) {
    const value = headers[source.eventTypeHeader];
    found = (Array.isArray(value) ? value[0] : value) ?? null;
  }
  if (!found && source.eventTypePath) {
    let cursor: unknown = body;
    for (const key of source.eventTypePath.split('.'))
      cursor = cursor !== null && typeof cursor === 'object' ? (cursor as Record<string, unknown>)[key] : undefined;
    found = typeof cursor === 'string' ? cursor : null;
  }
  const type = found ? `${source.eventTypePrefix}${found}` : source.defaultEventType;
  if (!type) {
    const where = [
      source.eventTypeHeader && `header ${source.eventTypeHeader}`,
      source.eventTypePath && `JSON path ${source.eventTypePath}`,
    ]
      .filter(Boolean)
      .join(' or ');
    return { ok: false, message: `No event type in the request (looked at ${where}) and the source has no defaultEventType.` };
  }
  if (!EVENT_TYPE.test(type)) return { ok: false, message: `"${type.slice(0, 60)}" is not a valid event type.` };
  return { ok: true, value: type };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}
