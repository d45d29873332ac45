import type { EntityManager } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../../config';
import { execute, toDate } from '../../db/sql';
import { badInput, notFound } from '../../lib/errors';
import { IdPrefix, newId } from '../../lib/ids';
import { type AuditOrigin, recordAudit } from '../audit/audit.service';
import { EVENT_VERSION, assertEventType, matchesEventType } from '../events/event-type-pattern';
import { compileSchema, describeViolations, validatorFor, violationsOf } from './schema-validator';

export interface CatalogVersion {
  version: string;
  schema: Record<string, unknown> | null;
  example: Record<string, unknown>;
  createdAt: Date;
}

export interface CatalogEntry {
  name: string;
  description: string;
  deprecatedAt: Date | null;
  deprecationNote: string | null;
  createdAt: Date;
  /** Oldest first; the last one is the latest. */
  versions: CatalogVersion[];
}

export interface RegisterEventType {
  name: string;
  description: string;
  version?: string | null;
  schema?: Record<string, unknown> | null;
  example: Record<string, unknown>;
}

export interface AddEventTypeVersion {
  name: string;
  version: string;
  schema?: Record<string, unknown> | null;
  example: Record<string, unknown>;
}

/** Herald's own types, always accepted even by a strict catalog. */
const SYSTEM_TYPES = new Set(['webhook.test']);

export type CatalogConfig = Pick<HeraldConfig, 'catalogStrict'>;

/**
 * The event type catalog: what each type means, an example, and per version an optional JSON Schema that
 * payloads are validated against at publish. Types not in the catalog are accepted unless CATALOG_STRICT.
 */
export class CatalogService {
  constructor(
    private readonly em: EntityManager,
    private readonly config: CatalogConfig,
    /** Who changes the catalog, for the audit log (the resolvers pass their scope); unset: Herald itself. */
    private readonly origin: AuditOrigin = {},
  ) {}

  async list(options: { includeDeprecated?: boolean | null } = {}): Promise<CatalogEntry[]> {
    const rows = await execute<EventTypeRow>(this.em, 'select * from event_types order by name');
    const versions = await execute<EventTypeVersionRow>(this.em, 'select * from event_type_versions order by created_at, version');
    const entries = rows.map((row) => toEntry(row, versions));
    return options.includeDeprecated === false ? entries.filter((entry) => !entry.deprecatedAt) : entries;
  }

  async find(name: string): Promise<CatalogEntry | null> {
    const [row] = await execute<EventTypeRow>(this.em, 'select * from event_types where name = ?', [name]);
    if (!row) return null;
    const versions = await execute<EventTypeVersionRow>(
      this.em,
      'select * from event_type_versions where event_type = ? order by created_at, version',
      [name],
    );
    return toEntry(row, versions);
  }

  async get(name: string): Promise<CatalogEntry> {
    const entry = await this.find(name);
    if (!entry) throw notFound('event type', name);
    return entry;
  }

  async register(input: RegisterEventType): Promise<CatalogEntry> {
    assertEventType(input.name, 'name');
    const description = input.description.trim();
    if (description.length < 1 || description.length > 2000)
      throw badInput('"description" must be 1 to 2000 characters.', { field: 'description' });
    const version = validateVersionName(input.version ?? '1.0');
    validateExample(input.example, input.schema ?? null);
    return this.em.transactional(async (em) => {
      const inserted = await execute(
        em,
        'insert into event_types (name, description) values (?, ?) on conflict do nothing returning name',
        [input.name, description],
      );
      if (inserted.length === 0) {
        throw badInput(`Event type "${input.name}" is already in the catalog: add a version with addEventTypeVersion instead.`, {
          field: 'name',
        });
      }
      await insertVersion(em, input.name, version, input.schema ?? null, input.example);
      const entry = await new CatalogService(em, this.config).get(input.name);
      await this.audit(em, 'event_type.registered', undefined, entry);
      return entry;
    });
  }

  /** A new version next to the old ones: endpoints pinned to an older version keep receiving that one. */
  async addVersion(input: AddEventTypeVersion): Promise<CatalogEntry> {
    const entry = await this.get(input.name);
    const version = validateVersionName(input.version);
    if (entry.versions.some((existing) => existing.version === version)) {
      throw badInput(`Event type "${input.name}" already has version "${version}"; versions are immutable, so pick a new version name.`, {
        field: 'version',
      });
    }
    validateExample(input.example, input.schema ?? null);
    return this.em.transactional(async (em) => {
      await insertVersion(em, input.name, version, input.schema ?? null, input.example);
      const after = await new CatalogService(em, this.config).get(input.name);
      await this.audit(em, 'event_type.version_added', entry, after);
      return after;
    });
  }

  async deprecate(name: string, note?: string | null): Promise<CatalogEntry> {
    const before = await this.get(name);
    return this.em.transactional(async (em) => {
      await execute(
        em,
        'update event_types set deprecated_at = coalesce(deprecated_at, now()), deprecation_note = ?, updated_at = now() where name = ?',
        [note?.trim().slice(0, 1000) || null, name],
      );
      const after = await new CatalogService(em, this.config).get(name);
      await this.audit(em, 'event_type.deprecated', before, after);
      return after;
    });
  }

  /** A catalog change in the audit log, in its transaction (`em`); catalog entries belong to no application. */
  private async audit(em: EntityManager, action: string, before: CatalogEntry | undefined, after: CatalogEntry): Promise<void> {
    await recordAudit(em, this.origin, { action, targetType: 'event_type', targetId: after.name, applicationId: null, before, after });
  }

  /**
   * What publishing checks against the catalog: a strict catalog refuses unknown types; a catalog type must name
   * one of its versions; a version with a schema must be satisfied by the payload. Refuses a payload its entry
   * (null: none) does not allow with a clear error.
   */
  checkPublishable(entry: CatalogEntry | null, type: string, version: string, data: unknown): void {
    if (SYSTEM_TYPES.has(type)) return;
    if (!entry) {
      if (this.config.catalogStrict) {
        throw badInput(
          `Event type "${type}" is not in the catalog, and this Herald only accepts catalog types (CATALOG_STRICT=true): register it with registerEventType first.`,
          { field: 'type' },
        );
      }
      return;
    }
    const catalogVersion = entry.versions.find((candidate) => candidate.version === version);
    if (!catalogVersion) {
      throw badInput(
        `Event type "${type}" has no version "${version}" in the catalog; its versions are ${entry.versions.map((v) => `"${v.version}"`).join(', ')}.`,
        { field: 'version' },
      );
    }
    if (!catalogVersion.schema) return;
    const validate = validatorFor(`${type}@${version}`, catalogVersion.schema);
    if (!validate(data)) {
      const violations = violationsOf(validate.errors);
      throw badInput(`"data" does not match the schema of ${type} ${version}: ${describeViolations(violations)}.`, {
        field: 'data',
        path: `data${violations[0]?.path ?? ''}`,
        violations,
      });
    }
  }

  /**
   * Endpoint filters checked against the catalog: deprecated types cannot be newly subscribed to, a strict
   * catalog refuses filters that match no type, and version pins must name a registered version.
   */
  async assertSubscribable(
    filters: string[],
    versionPins: Record<string, string>,
    alreadySubscribed: readonly string[] = [],
  ): Promise<void> {
    const catalog = await this.list();
    const byName = new Map(catalog.map((entry) => [entry.name, entry]));
    for (const filter of filters) {
      if (alreadySubscribed.includes(filter)) continue;
      const entry = byName.get(filter);
      if (entry?.deprecatedAt) {
        throw badInput(
          `Event type "${filter}" is deprecated${entry.deprecationNote ? ` (${entry.deprecationNote})` : ''}: new subscriptions to it are refused.`,
          { field: 'eventTypes' },
        );
      }
      if (this.config.catalogStrict && !catalog.some((candidate) => matchesEventType([filter], candidate.name))) {
        throw badInput(
          `The filter "${filter}" matches no event type in the catalog (CATALOG_STRICT=true); query eventTypes for the list.`,
          {
            field: 'eventTypes',
          },
        );
      }
    }
    for (const [type, version] of Object.entries(versionPins)) {
      const entry = byName.get(type);
      if (!entry) throw badInput(`"eventVersions" pins "${type}", which is not in the catalog.`, { field: 'eventVersions' });
      if (typeof version !== 'string' || !entry.versions.some((candidate) => candidate.version === version)) {
        throw badInput(
          `"eventVersions" pins "${type}" to ${JSON.stringify(version)}, which is not one of its versions (${entry.versions.map((v) => `"${v.version}"`).join(', ')}).`,
          { field: 'eventVersions' },
        );
      }
    }
  }
}

/** A row of event_types (timestamps as pg returns them, or as JSON text). */
export interface EventTypeRow {
  name: string;
  description: string;
  deprecated_at: string | Date | null;
  deprecation_note: string | null;
  created_at: string | Date;
}

/** A row of event_type_versions, likewise. */
export interface EventTypeVersionRow {
  event_type: string;
  version: string;
  schema: Record<string, unknown> | null;
  example: string;
  created_at: string | Date;
}

function toEntry(row: EventTypeRow, versions: EventTypeVersionRow[]): CatalogEntry {
  return {
    name: row.name,
    description: row.description,
    deprecatedAt: row.deprecated_at ? toDate(row.deprecated_at) : null,
    deprecationNote: row.deprecation_note,
    createdAt: toDate(row.created_at),
    versions: versions
      .filter((version) => version.event_type === row.name)
      .map((version) => ({
        version: version.version,
        schema: typeof version.schema === 'string' ? (JSON.parse(version.schema) as Record<string, unknown>) : version.schema,
        example: JSON.parse(version.example) as Record<string, unknown>,
        createdAt: toDate(version.created_at),
      })),
  };
}

async function insertVersion(em: EntityManager, name: string, version: string, schema: Record<string, unknown> | null, example: unknown) {
  await execute(em, 'insert into event_type_versions (id, event_type, version, schema, example) values (?, ?, ?, ?::jsonb, ?)', [
    newId(IdPrefix.eventTypeVersion),
    name,
    version,
    schema ? JSON.stringify(schema) : null,
    JSON.stringify(example),
  ]);
}

function validateVersionName(version: string): string {
  if (!EVENT_VERSION.test(version))
    throw badInput('"version" must be 1 to 32 letters, digits, ".", "_" or "-" (for example "2.0").', { field: 'version' });
  return version;
}

/** The example is what `herald trigger` publishes, so it must pass its own schema. */
function validateExample(example: unknown, schema: Record<string, unknown> | null): void {
  if (example === null || typeof example !== 'object' || Array.isArray(example))
    throw badInput('"example" must be a JSON object.', { field: 'example' });
  if (!schema) return;
  const validate = compileSchema(schema);
  if (!validate(example)) {
    throw badInput(
      `"example" does not match its own schema: ${describeViolations(violationsOf(validate.errors)).replace(/\bdata\//g, 'example/')}.`,
      {
        field: 'example',
      },
    );
  }
}

/** The types of these names a publish checks against the catalog: Herald's own system types are never in it. */
export function catalogTypeNames(names: string[]): string[] {
  return [...new Set(names.filter((name) => !SYSTEM_TYPES.has(name)))];
}

/** Catalog entries by name from rows of event_types and their versions (in creation order). */
export function catalogEntries(types: EventTypeRow[], versions: EventTypeVersionRow[]): Map<string, CatalogEntry> {
  return new Map(types.map((row) => [row.name, toEntry(row, versions)]));
}
