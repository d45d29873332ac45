import type { ApolloServerPlugin, GraphQLRequestListener } from '@apollo/server';
import {
  type DocumentNode,
  GraphQLError,
  type GraphQLSchema,
  TypeInfo,
  getArgumentValues,
  getNamedType,
  isInputObjectType,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import { ErrorCode } from '../lib/errors';
import type { Principal } from '../modules/api-keys/principal';
import { PORTAL_FIELD_POLICY, PORTAL_REFUSED_INPUT_FIELDS } from '../modules/portal/portal-policy';
import type { GraphQLContext } from './context';

/**
 * Refuses, before anything runs, an operation of a customer portal session that asks for a field its policy does not
 * grant it (src/modules/portal/portal-policy.ts): every root field must be listed with capabilities the session has,
 * and listed nested fields need theirs; operator-only input fields are refused too. API keys pass untouched (one
 * property read per operation). Portal sessions have no graphql-ws access (their credential is not an API key), so
 * HTTP, where Apollo runs this plugin, is their only way in.
 */
export function portalGuardPlugin(): ApolloServerPlugin<GraphQLContext> {
  const listener: GraphQLRequestListener<GraphQLContext> = {
    async didResolveOperation({ contextValue, document, schema, request }) {
      const portal = contextValue.principal.portal;
      if (!portal) return;
      const refusal = portalRefusal(contextValue.principal, schema, document, request.variables ?? {});
      if (refusal) {
        throw new GraphQLError(refusal, { extensions: { code: ErrorCode.FORBIDDEN, http: { status: 403 } } });
      }
    },
  };
  return { requestDidStart: async () => listener };
}

/** Why the portal principal may not run this document (the first field at fault), or null when it may. */
export function portalRefusal(
  principal: Principal,
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown>,
): string | null {
  const granted = new Set(principal.portal?.capabilities ?? []);
  const roots = new Set(
    [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(Boolean).map((type) => type!.name),
  );
  const typeInfo = new TypeInfo(schema);
  let refusal: string | null = null;
  // Fragments are visited too, each field with its parent type: a root field in a fragment on Query is judged as any other.
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        if (refusal) return false;
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (!parent || !field || node.name.value === '__typename') return undefined;
        const coordinate = `${parent.name}.${field.name}`;
        const needs = PORTAL_FIELD_POLICY[coordinate];
        if (needs === undefined) {
          if (roots.has(parent.name)) refusal = `\`${field.name}\` is not available to a customer portal session.`;
          return undefined;
        }
        const missing = needs.filter((capability) => !granted.has(capability));
        if (missing.length > 0) {
          refusal = `\`${coordinate}\` needs the portal capability ${missing.join(' and ')}, which this session does not have.`;
          return undefined;
        }
        if (node.arguments?.length) {
          let args: Record<string, unknown>;
          try {
            args = getArgumentValues(field, node, variables);
          } catch {
            return undefined; // Apollo reports the invalid argument itself.
          }
          for (const argument of field.args) {
            const type = getNamedType(argument.type);
            const refused = isInputObjectType(type) ? PORTAL_REFUSED_INPUT_FIELDS[type.name] : undefined;
            const value = args[argument.name];
            if (!refused || typeof value !== 'object' || value === null) continue;
            const set = refused.filter((name) => (value as Record<string, unknown>)[name] !== undefined);
            if (set.length > 0)
              refusal = `A customer portal session may not set ${set.map((name) => `\`${name}\``).join(', ')} of ${type.name}.`;
          }
        }
        return undefined;
      },
    }),
  );
  return refusal;
}
