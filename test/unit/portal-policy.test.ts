import { type GraphQLSchema, isInputObjectType, isObjectType } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildHeraldSchema } from '../../src/graphql/schema';
import { PORTAL_FIELD_POLICY, PORTAL_REFUSED_INPUT_FIELDS } from '../../src/modules/portal/portal-policy';

/** The portal's allow-list names schema coordinates as text: a renamed field must fail here, not silently close or open. */
describe('the portal policy', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildHeraldSchema();
  });

  it('names only fields the schema has', () => {
    const missing = Object.keys(PORTAL_FIELD_POLICY).filter((coordinate) => {
      const [typeName, fieldName] = coordinate.split('.');
      const type = schema.getType(typeName!);
      return !isObjectType(type) || !type.getFields()[fieldName!];
    });
    expect(missing).toEqual([]);
  });

  it('refuses only input fields the schema has', () => {
    const missing = Object.entries(PORTAL_REFUSED_INPUT_FIELDS).flatMap(([typeName, fields]) => {
      const type = schema.getType(typeName);
      return fields.filter((field) => !isInputObjectType(type) || !type.getFields()[field]).map((field) => `${typeName}.${field}`);
    });
    expect(missing).toEqual([]);
  });

  it('grants no admin-only operation', () => {
    for (const coordinate of [
      'Mutation.createApplication',
      'Mutation.createApiKey',
      'Mutation.createPortalSession',
      'Query.applications',
      'Query.apiKeys',
    ]) {
      expect(PORTAL_FIELD_POLICY[coordinate]).toBeUndefined();
    }
  });
});
