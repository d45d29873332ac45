import { forbidden } from '../../lib/errors';
import { ApiKeyKind } from './api-key.entity';

/** Who is calling: the API key an operation was authenticated with. */
export interface Principal {
  keyId: string;
  name: string;
  kind: ApiKeyKind;
  /** The one application an application key may touch; null for admin keys. */
  applicationId: string | null;
}

/**
 * What data a service may touch: one application, or all of them (admin keys and Herald's own
 * internals). Services apply it to every lookup, so another tenant's id is simply not found.
 */
export interface TenantScope {
  applicationId: string | null;
}

export const ALL_APPLICATIONS: TenantScope = Object.freeze({ applicationId: null });

export function scopeOf(principal: Principal): TenantScope {
  return { applicationId: principal.kind === ApiKeyKind.ADMIN ? null : principal.applicationId };
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
    throw forbidden(`${action} needs an admin API key; this is an application key (${principal.name}).`);
  }
}
