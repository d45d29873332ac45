import { readFile } from 'node:fs/promises';
import {
  type DocumentNode,
  type FieldNode,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  getIntrospectionQuery,
  parse,
  print,
  specifiedRules,
  validate,
} from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHeraldSchema } from '../../src/graphql/schema';
import { queryLimitRule } from '../../src/graphql/query-limits';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';

/** What GraphiQL (ruru) sends for its schema before anything else: the full introspection query. */
const GRAPHIQL_INTROSPECTION = getIntrospectionQuery({ descriptions: true, schemaDescription: true, inputValueDeprecation: true });

interface Answer {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer['body'] };
}

/** The client configuration ruru's page bakes in (RURU_CONFIG). */
async function ruruConfig(url: string): Promise<Record<string, unknown>> {
  const html = await (await fetch(`${url}/graphiql`)).text();
  const json = /const RURU_CONFIG = ([\s\S]*?);\s*<\/script>/.exec(html)?.[1];
  expect(json, 'RURU_CONFIG in the page').toBeDefined();
  return JSON.parse(json!) as Record<string, unknown>;
}

function rootField(document: DocumentNode, name: string): FieldNode | undefined {
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    const field = definition.selectionSet.selections.find(
      (selection): selection is FieldNode => selection.kind === Kind.FIELD && selection.name.value === name,
    );
    if (field) return field;
  }
  return undefined;
}

function subField(selectionSet: SelectionSetNode | undefined, name: string): FieldNode | undefined {
  return selectionSet?.selections.find(
    (selection): selection is FieldNode => selection.kind === Kind.FIELD && selection.name.value === name,
  );
}

describe('GraphiQL: Herald first screen, and the schema without a key where introspection is on', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it("greets with Herald's own first screen: where the key goes and comes from, and the README tour's operations ready to run", async () => {
    const config = await ruruConfig(herald.url);
    const query = config.defaultQuery;
    expect(typeof query).toBe('string');
    const text = query as string;
    expect(text).not.toMatch(/Ruru/);
    expect(text).toMatch(/Headers/);
    expect(text).toContain('{"Authorization": "Bearer <key>"}');
    expect(text).toMatch(/npm start/);
    expect(text).toContain('npx herald keys create --name <name>');

    // Every operation is valid against the schema and within the query limits: each runs as it is.
    const document = parse(text);
    const schema = await buildHeraldSchema();
    expect(validate(schema, document, [...specifiedRules, queryLimitRule(herald.config.graphqlLimits)]).map((e) => e.message)).toEqual([]);
    const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    expect(operations.map((operation) => operation.name?.value)).toEqual(
      expect.arrayContaining(['RegisterEndpoint', 'PublishEvent', 'Deliveries']),
    );

    // The same operations as the README's tour, field for field.
    const readme = await readFile('README.md', 'utf8');
    const tour = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((match) => parse(match[1]!));
    const inTour = (name: string) => tour.map((block) => rootField(block, name)).find(Boolean);
    for (const name of ['registerEndpoint', 'publishEvent', 'deliveryUpdated']) {
      expect(inTour(name), `${name} in the README`).toBeDefined();
      const mine = rootField(document, name);
      expect(mine, `${name} on the first screen`).toBeDefined();
      expect(print(mine!), name).toBe(print(inTour(name)!));
    }
    const attempts = subField(subField(rootField(document, 'deliveries')?.selectionSet, 'nodes')?.selectionSet, 'attempts');
    expect(attempts, 'deliveries with their attempts').toBeDefined();
    expect(print(attempts!)).toBe(print(subField(inTour('delivery')!.selectionSet, 'attempts')!));

    // The headers editor shows where the key goes, and sends no header until one is pasted (comments only).
    const headers = config.defaultHeaders as string;
    expect(headers).toContain('"Authorization": "Bearer');
    expect(headers.replace(/\/\/.*$/gm, '').trim()).toBe('');
  });

  it('answers GraphiQL schema fetch without a key: the docs explorer works before a key is pasted', async () => {
    const answer = await post(herald.url, { query: GRAPHIQL_INTROSPECTION, operationName: 'IntrospectionQuery' });
    expect(answer.body.errors).toBeUndefined();
    expect(answer.status).toBe(200);
    const schema = answer.body.data?.__schema as { queryType: { name: string }; mutationType: { name: string }; types: unknown[] };
    expect(schema.queryType.name).toBe('Query');
    expect(schema.mutationType.name).toBe('Mutation');
    expect(schema.types.length).toBeGreaterThan(20);

    for (const query of [
      '{ __typename }',
      'query { __type(name: "Endpoint") { name fields { name } } }',
      'query Types { ... on Query { __schema { queryType { name } } } }',
      'query Types { ...Root } fragment Root on Query { __typename __schema { types { name } } }',
      'query A { __typename } query B { __schema { queryType { name } } }',
    ]) {
      const keyless = await post(herald.url, { query, operationName: query.startsWith('query A') ? 'B' : undefined });
      expect(keyless.body.errors, query).toBeUndefined();
      expect(keyless.status, query).toBe(200);
    }
  });

  it('every other operation still needs a key: 401 UNAUTHENTICATED, nothing runs', async () => {
    const refusedKeyless: Array<[string, Record<string, unknown>]> = [
      ['a data field beside introspection', { query: '{ __typename applications { nodes { id } } }' }],
      ['a data field alone', { query: '{ applications { nodes { id } } }' }],
      [
        'another operation in the document',
        { query: 'query A { __typename } query B { applications { nodes { id } } }', operationName: 'A' },
      ],
      [
        'a root fragment with a data field',
        { query: 'query { ...Root } fragment Root on Query { __typename applications { nodes { id } } }' },
      ],
      ['an inline fragment with a data field', { query: 'query { ... on Query { __typename currentApiKey { name } } }' }],
      ['a fragment cycle', { query: 'query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }' }],
      ['a mutation', { query: 'mutation { __typename }' }],
      [
        'a mutation beside an introspection query',
        { query: 'query A { __typename } mutation B { createApplication(input: { name: "x" }) { id } }', operationName: 'A' },
      ],
      ['text that does not parse', { query: '{ __schema { ' }],
      ['no query text (a persisted query hash)', { extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }],
    ];
    for (const [name, body] of refusedKeyless) {
      const answer = await post(herald.url, body);
      expect(answer.status, name).toBe(401);
      expect(answer.headers.get('www-authenticate'), name).toBe('Bearer');
      expect(answer.body.data ?? null, name).toBeNull();
      expect(
        answer.body.errors?.map((error) => error.extensions?.code),
        name,
      ).toEqual(['UNAUTHENTICATED']);
    }
    // A key that is presented must be valid, introspection or not; an empty header is no key.
    const wrongKey = await post(herald.url, { query: '{ __typename }' }, { authorization: `Bearer hk_00000000_${'A'.repeat(43)}` });
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.errors?.[0]?.message).toMatch(/not valid/);
    const emptyHeader = await post(herald.url, { query: '{ __typename }' }, { authorization: '' });
    expect(emptyHeader.status).toBe(401);
    // Over GET (GraphiQL posts), every query needs a key.
    const overGet = await fetch(`${herald.url}/graphql?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(overGet.status).toBe(401);
    // Nothing was written.
    const { applications } = (
      await post(herald.url, { query: '{ applications { nodes { id } } }' }, { authorization: `Bearer ${herald.adminKey}` })
    ).body.data as { applications: { nodes: Array<{ id: string }> } };
    expect(applications.nodes.map((application) => application.id)).toEqual(['app_default']);
  });
});

describe('with INTROSPECTION_ENABLED=false', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, { roles: { api: true, worker: false }, config: { introspection: false } });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it('needs a key even for introspection, and introspection stays refused with one', async () => {
    for (const query of [GRAPHIQL_INTROSPECTION, '{ __typename }']) {
      const keyless = await post(herald.url, { query });
      expect(keyless.status).toBe(401);
      expect(keyless.body.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    }
    const keyed = await post(herald.url, { query: GRAPHIQL_INTROSPECTION }, { authorization: `Bearer ${herald.adminKey}` });
    expect(keyed.status).toBe(400);
    expect(keyed.body.errors?.[0]?.message).toMatch(/introspection/i);
    expect(keyed.body.data ?? null).toBeNull();
    // GraphiQL's first screen says why its docs explorer stays empty.
    expect((await ruruConfig(herald.url)).defaultQuery).toMatch(/INTROSPECTION_ENABLED=false/);
  });
});
