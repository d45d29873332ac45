import type { EntityManager } from '@mikro-orm/postgresql';
import { type Sql, execute, toDate } from '../../db/sql';
import { badInput } from '../../lib/errors';
import { IdPrefix, newId } from '../../lib/ids';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import type { ApiKeyEntity } from '../api-keys/api-key.entity';
import type { ApplicationEntity } from '../applications/application.entity';
import type { EndpointEntity } from '../endpoints/endpoint.entity';
import { redactForAudit } from './audit-redaction';

/** Whose change it is: an API key (by kind), a customer portal session, or Herald itself. */
export type AuditActorKind = 'ADMIN' | 'APPLICATION' | 'PORTAL' | 'SYSTEM';

export interface AuditActor {
  /** The API key's id, the portal session's id, or `system`. */
  id: string;
  kind: AuditActorKind;
}

export const SYSTEM_ACTOR: AuditActor = Object.freeze({ id: 'system', kind: 'SYSTEM' });

/** Who makes the changes of a unit of work and in which request: part of every service's TenantScope. */
export interface AuditOrigin {
  /** Unset: Herald itself (the CLI, start-up, jobs). */
  actor?: AuditActor;
  requestId?: string | null;
}

/** One change: what was done (`endpoint.updated`), to what, and the target before and after (redacted on write). */
export interface AuditChange {
  action: string;
  targetType: string;
  targetId: string;
  applicationId: string | null;
  before?: unknown;
  after?: unknown;
}

export interface AuditEntry {
  id: string;
  createdAt: Date;
  requestId: string | null;
  actor: AuditActor;
  action: string;
  targetType: string;
  targetId: string;
  applicationId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface AuditFilter {
  applicationId?: string | null;
  action?: string | null;
  targetId?: string | null;
  actorId?: string | null;
  after?: Date | null;
  before?: Date | null;
}

interface AuditRow {
  id: string;
  created_at: string | Date;
  request_id: string | null;
  actor_id: string;
  actor_kind: AuditActorKind;
  action: string;
  target_type: string;
  target_id: string;
  application_id: string | null;
  before: Record<string, unknown> | string | null;
  after: Record<string, unknown> | string | null;
}

/**
 * Records changes in the audit log, on `db`: the caller's transaction, so an entry commits with its change and a
 * change that rolls back leaves none. Before and after go through redactForAudit here, the one way in.
 */
export async function recordAudit(db: Sql, origin: AuditOrigin, changes: AuditChange | AuditChange[]): Promise<void> {
  const list = Array.isArray(changes) ? changes : [changes];
  if (list.length === 0) return;
  const actor = origin.actor ?? SYSTEM_ACTOR;
  const rows = list.map((change) => ({
    id: newId(IdPrefix.auditEntry),
    request_id: origin.requestId ?? null,
    actor_id: actor.id,
    actor_kind: actor.kind,
    action: change.action,
    target_type: change.targetType,
    target_id: change.targetId,
    application_id: change.applicationId,
    before: change.before === undefined ? null : redactForAudit(change.before),
    after: change.after === undefined ? null : redactForAudit(change.after),
  }));
  await execute(
    db,
    `insert into audit_log (id, request_id, actor_id, actor_kind, action, target_type, target_id, application_id, before, after)
     select id, request_id, actor_id, actor_kind, action, target_type, target_id, application_id, before, after
     from json_to_recordset(?::json) as r(id text, request_id text, actor_id text, actor_kind text, action text, target_type text,
                                          target_id text, application_id text, before jsonb, after jsonb)`,
    [JSON.stringify(rows)],
  );
}

/** The audit log as its readers see it: an application's entries to its keys, everything to admin keys. */
export class AuditService {
  constructor(
    private readonly em: EntityManager,
    private readonly scope: { applicationId: string | null },
  ) {}

  /** Newest first. */
  async list(filter: AuditFilter, page: PageRequest): Promise<Connection<AuditEntry>> {
    if (filter.after && filter.before && filter.after.getTime() >= filter.before.getTime()) {
      throw badInput(`"after" (${filter.after.toISOString()}) must be earlier than "before" (${filter.before.toISOString()}).`, {
        field: 'after',
      });
    }
    const conditions: string[] = [];
    const params: unknown[] = [];
    const where = (sql: string, value: unknown) => {
      conditions.push(sql);
      params.push(value);
    };
    if (this.scope.applicationId !== null) {
      // Another application's entries are simply not there for an application key.
      if (filter.applicationId && filter.applicationId !== this.scope.applicationId) return toConnection([], page, toEntry);
      where('application_id = ?', this.scope.applicationId);
    } else if (filter.applicationId) where('application_id = ?', filter.applicationId);
    if (filter.action) where('action = ?', filter.action);
    if (filter.targetId) where('target_id = ?', filter.targetId);
    if (filter.actorId) where('actor_id = ?', filter.actorId);
    if (filter.after) where('created_at > ?', filter.after);
    if (filter.before) where('created_at < ?', filter.before);
    if (page.afterId) where('id < ?', page.afterId);
    const rows = await execute<AuditRow>(
      this.em,
      `select * from audit_log ${conditions.length ? `where ${conditions.join(' and ')}` : ''} order by id desc limit ?`,
      [...params, page.limit + 1],
    );
    return toConnection(rows, page, toEntry);
  }
}

function toEntry(row: AuditRow): AuditEntry {
  const json = (value: AuditRow['before']) => (typeof value === 'string' ? (JSON.parse(value) as Record<string, unknown>) : value);
  return {
    id: row.id,
    createdAt: toDate(row.created_at),
    requestId: row.request_id,
    actor: { id: row.actor_id, kind: row.actor_kind },
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    applicationId: row.application_id,
    before: json(row.before),
    after: json(row.after),
  };
}

/** An endpoint as the audit log shows it; its secret fields are listed so redaction shows whether they are set. */
export function endpointSnapshot(endpoint: EndpointEntity): Record<string, unknown> {
  return {
    id: endpoint.id,
    applicationId: endpoint.application.id,
    url: endpoint.url,
    description: endpoint.description,
    eventTypes: [...endpoint.eventTypes],
    eventVersions: { ...endpoint.eventVersions },
    headers: { ...endpoint.headers },
    metadata: endpoint.metadata,
    secret: endpoint.secret,
    previousSecrets: endpoint.previousSecrets.map((previous) => ({ secret: previous.secret, expiresAt: previous.expiresAt })),
    signingKey: endpoint.signingKey,
    publicKey: endpoint.publicKey,
    enabled: endpoint.enabled,
    disabledReason: endpoint.disabledReason,
    pausedAt: endpoint.pausedAt,
    maxConcurrency: endpoint.maxConcurrency,
    rateLimitPerSecond: endpoint.rateLimitPerSecond,
    retryPolicy: endpoint.retryPolicy,
    ordered: endpoint.ordered,
  };
}

export function apiKeySnapshot(apiKey: ApiKeyEntity): Record<string, unknown> {
  return {
    id: apiKey.id,
    name: apiKey.name,
    kind: apiKey.kind,
    applicationId: apiKey.application?.id ?? null,
    prefix: apiKey.prefix,
    keyHash: apiKey.keyHash,
    expiresAt: apiKey.expiresAt,
    revokedAt: apiKey.revokedAt,
  };
}

export function applicationSnapshot(application: ApplicationEntity): Record<string, unknown> {
  return { id: application.id, name: application.name, metadata: application.metadata };
}
