import { forbidden } from '../../lib/errors';
import { ApiKeyKind } from './api-key.entity';
import type { PortalCapability } from '../portal/portal-capability';
import type { AuditActor, AuditOrigin } from '../audit/audit.service';

/** Who is calling: the API key an operation was authenticated with, or a customer portal session. */
export interface Principal {
  /** The API key's id, or the portal session's. */
  keyId: string;
  name: string;
  kind: ApiKeyKind | 'PORTAL';
  /** The one application an application key (or a portal session) may touch; null for admin keys. */
  applicationId: string | null;
  /** Set for a portal session: what it may do (src/modules/portal/portal-policy.ts); unset for API keys. */
  portal?: { sessionId: string; capabilities: readonly PortalCapability[] };
}

/**
 * What data a service may touch: one application, or all of them (admin keys and Herald's own
 * internals). Services apply it to every lookup, so another tenant's id is simply not found.
 */
export interface TenantScope extends AuditOrigin {
  applicationId: string | null;
}

export const ALL_APPLICATIONS: TenantScope = Object.freeze({ applicationId: null });

export function scopeOf(principal: Principal): TenantScope {
  return { applicationId: principal.kind === ApiKeyKind.ADMIN ? null : principal.applicationId };
}

/** Who the audit log names for a principal's changes: the key (with its kind) or the portal session. */
export function actorOf(principal: Principal): AuditActor {
  return principal.portal ? { id: principal.portal.sessionId, kind: 'PORTAL' } : { id: principal.keyId, kind: principal.kind };
}

/** The `where` fragment restricting a query to the scope, or null when a requested application is out of it. */
export function applicationCondition(scope: TenantScope, requestedApplicationId?: string | null): { application?: string } | null {
  if (scope.applicationId === null) return requestedApplicationId ? { application: requestedApplicationId } : {};
  if (requestedApplicationId && requestedApplicationId !== scope.applicationId) return null;
  return { application: scope.applicationId };
}

export function canSee(scope: TenantScope, applicationId: string): boolean {
  return scope.applicationId === null || scope.applicationId === applicationId;
}

export function requireAdmin(principal: Principal, action: string): void {
  if (principal.kind !== ApiKeyKind.ADMIN) {
    const caller = principal.kind === 'PORTAL' ? 'a customer portal session' : `an application key (${principal.name})`;
    throw forbidden(`${action} needs an admin API key; this is ${caller}.`);
  }
}
