import type { EntityManager } from '@mikro-orm/postgresql';
import { generateSecret, isValidSecret } from '../../delivery/signature';
import { RESERVED_HEADER } from '../../delivery/webhook-request';
import { ErrorCode, HeraldError, badInput, notFound } from '../../lib/errors';
import { type Connection, type PageRequest, toConnection } from '../../graphql/pagination';
import { ApplicationService } from '../applications/application.service';
import { type CatalogConfig, CatalogService } from '../catalog/catalog.service';
import { assertEventTypeFilters } from '../events/event-type';
import { EndpointEntity } from './endpoint.entity';
import { validateEndpointUrl } from './endpoint-url';

export interface RegisterEndpoint {
  url: string;
  applicationId?: string | null;
  description?: string | null;
  eventTypes?: string[] | null;
  eventVersions?: Record<string, unknown> | null;
  headers?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
  secret?: string | null;
}

export type UpdateEndpoint = Partial<Omit<RegisterEndpoint, 'applicationId' | 'secret'>>;

const MAX_HEADERS = 20;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

export class EndpointService {
  constructor(
    private readonly em: EntityManager,
    private readonly catalog: CatalogConfig = { catalogStrict: false },
  ) {}

  async register(input: RegisterEndpoint): Promise<{ endpoint: EndpointEntity; secret: string }> {
    const application = await new ApplicationService(this.em).resolve(input.applicationId);
    const url = validateEndpointUrl(input.url);
    const eventTypes = normaliseFilters(input.eventTypes);
    const eventVersions = normaliseVersionPins(input.eventVersions);
    await new CatalogService(this.em, this.catalog).assertSubscribable(eventTypes, eventVersions);
    if (input.secret != null && !isValidSecret(input.secret)) {
      throw badInput('"secret" must be "whsec_" followed by the base64 of 24 to 64 random bytes; omit it to have one generated.', {
        field: 'secret',
      });
    }
    const secret = input.secret ?? generateSecret();
    const endpoint = this.em.create(EndpointEntity, {
      application,
      url,
      description: normaliseDescription(input.description),
      eventTypes,
      eventVersions,
      secret,
      headers: validateHeaders(input.headers),
      metadata: input.metadata ?? null,
    });
    await this.em.flush();
    return { endpoint, secret };
  }

  async update(id: string, input: UpdateEndpoint): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    if (input.url != null) endpoint.url = validateEndpointUrl(input.url);
    if (input.description !== undefined) endpoint.description = normaliseDescription(input.description);
    if (input.eventTypes != null || input.eventVersions != null) {
      const eventTypes = input.eventTypes != null ? normaliseFilters(input.eventTypes) : endpoint.eventTypes;
      const eventVersions = input.eventVersions != null ? normaliseVersionPins(input.eventVersions) : endpoint.eventVersions;
      await new CatalogService(this.em, this.catalog).assertSubscribable(eventTypes, eventVersions, endpoint.eventTypes);
      endpoint.eventTypes = eventTypes;
      endpoint.eventVersions = eventVersions;
    }
    if (input.headers != null) endpoint.headers = validateHeaders(input.headers);
    if (input.metadata !== undefined) endpoint.metadata = input.metadata ?? null;
    await this.em.flush();
    return endpoint;
  }

  async disable(id: string, reason?: string | null): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    endpoint.enabled = false;
    endpoint.disabledReason = reason?.trim().slice(0, 500) || 'Disabled by a user';
    endpoint.disabledAt = new Date();
    await this.em.flush();
    return endpoint;
  }

  async enable(id: string): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    endpoint.enabled = true;
    endpoint.disabledReason = null;
    endpoint.disabledAt = null;
    endpoint.consecutiveDeadLetters = 0;
    await this.em.flush();
    return endpoint;
  }

  /** Deletes the endpoint with its deliveries and their attempts; queued jobs for them do nothing. */
  async delete(id: string): Promise<void> {
    const endpoint = await this.get(id);
    await this.em.remove(endpoint).flush();
  }

  async rotateSecret(id: string): Promise<{ endpoint: EndpointEntity; secret: string }> {
    const endpoint = await this.get(id);
    endpoint.secret = generateSecret();
    await this.em.flush();
    return { endpoint, secret: endpoint.secret };
  }

  async get(id: string): Promise<EndpointEntity> {
    const endpoint = await this.em.findOne(EndpointEntity, { id });
    if (!endpoint) throw notFound('endpoint', id);
    return endpoint;
  }

  async requireEnabled(id: string): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    if (!endpoint.enabled) {
      throw new HeraldError(
        ErrorCode.ENDPOINT_DISABLED,
        `Endpoint ${id} is disabled (${endpoint.disabledReason ?? 'no reason given'}); enable it with enableEndpoint first.`,
        { id },
      );
    }
    return endpoint;
  }

  async list(filter: { applicationId?: string | null; enabled?: boolean | null }, page: PageRequest): Promise<Connection<EndpointEntity>> {
    const where: Record<string, unknown> = {};
    if (filter.applicationId) where.application = filter.applicationId;
    if (filter.enabled != null) where.enabled = filter.enabled;
    if (page.afterId) where.id = { $lt: page.afterId };
    const rows = await this.em.find(EndpointEntity, where, { orderBy: { id: 'desc' }, limit: page.limit + 1 });
    return toConnection(rows, page, (row) => row);
  }
}

function normaliseFilters(filters: string[] | null | undefined): string[] {
  const cleaned = [...new Set((filters ?? []).map((filter) => filter.trim()))];
  assertEventTypeFilters(cleaned);
  return cleaned;
}

function normaliseVersionPins(pins: Record<string, unknown> | null | undefined): Record<string, string> {
  const entries = Object.entries(pins ?? {});
  if (entries.length > 100) throw badInput('An endpoint can pin at most 100 event types.', { field: 'eventVersions' });
  for (const [type, version] of entries) {
    if (typeof version !== 'string')
      throw badInput(`"eventVersions.${type.slice(0, 60)}" must be a version string such as "1.0".`, { field: 'eventVersions' });
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function normaliseDescription(description: string | null | undefined): string | null {
  if (description == null) return null;
  if (description.length > 1000) throw badInput('"description" is limited to 1000 characters.', { field: 'description' });
  return description;
}

function validateHeaders(headers: Record<string, unknown> | null | undefined): Record<string, string> {
  const entries = Object.entries(headers ?? {});
  if (entries.length > MAX_HEADERS) throw badInput(`An endpoint can have at most ${MAX_HEADERS} custom headers.`, { field: 'headers' });
  const result: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!HEADER_NAME.test(name)) throw badInput(`"${name.slice(0, 100)}" is not a valid HTTP header name.`, { field: 'headers' });
    if (RESERVED_HEADER.test(name)) {
      throw badInput(`The header "${name}" is set by Herald and cannot be overridden.`, { field: 'headers' });
    }
    if (typeof value !== 'string' || value.length > 4096 || /[\r\n\0]/.test(value)) {
      throw badInput(`The value of header "${name}" must be a string of at most 4096 characters without line breaks.`, {
        field: 'headers',
      });
    }
    result[name.toLowerCase()] = value;
  }
  return result;
}
