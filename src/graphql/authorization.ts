import type { GraphQLResolveInfo } from 'graphql';
import { type AuthCheckerFn, Authorized, Extensions } from 'type-graphql';
import { ApiKeyKind } from '../modules/api-keys/api-key.entity';
import { requireAdmin } from '../modules/api-keys/principal';
import type { GraphQLContext } from './context';

/** The field extension naming what an admin-only field does, for its refusal ("Creating API keys needs an admin API key"). */
export const ADMIN_ACTION = 'adminAction';

/**
 * Only admin keys may call the field: type-graphql's `@Authorized` with the ADMIN role, and `action` (what
 * the field does, as the start of a sentence) for the FORBIDDEN message an application key gets.
 */
export function AdminOnly(action: string): MethodDecorator {
  const authorized = Authorized(ApiKeyKind.ADMIN);
  const named = Extensions({ [ADMIN_ACTION]: action });
  return (target, propertyKey, descriptor) => {
    authorized(target, propertyKey, descriptor);
    named(target, propertyKey, descriptor);
  };
}

/** Grants a field whose roles include the caller's key kind, and refuses any other with FORBIDDEN. */
export const authChecker: AuthCheckerFn<GraphQLContext, ApiKeyKind> = ({ context, info }, roles) => {
  if (context.principal.kind !== 'PORTAL' && roles.includes(context.principal.kind)) return true;
  // Herald's FORBIDDEN naming the action, rather than type-graphql's generic refusal.
  requireAdmin(context.principal, adminAction(info));
  return false;
};

function adminAction(info: GraphQLResolveInfo): string {
  const action = info.parentType.getFields()[info.fieldName]?.extensions[ADMIN_ACTION];
  return typeof action === 'string' ? action : `\`${info.fieldName}\``;
}
