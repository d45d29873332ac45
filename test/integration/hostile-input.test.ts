import {
  type GraphQLInputType,
  type GraphQLSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
} from 'graphql';
import { describe, expect } from 'vitest';
import { buildHeraldSchema } from '../../src/graphql/schema';
import { RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { heraldTest } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';

interface Answer {
  status: number;
  body: { data?: unknown; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

const KNOWN_CODES = new Set([
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'QUERY_TOO_COMPLEX',
  'QUERY_TOO_LARGE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'INVALID_URL',
]);

/** A valid value for every input type, so that one field at a time can be made invalid. */
const VALID_INPUTS: Record<string, Record<string, unknown>> = {
  RegisterEndpointInput: { url: 'http://127.0.0.1:9/hook' },
  UpdateEndpointInput: {},
  PublishEventInput: { type: 'order.created', data: { orderId: 'O-1' } },
  CreateApplicationInput: { name: 'hostile' },
  CreateApiKeyInput: { name: 'hostile' },
  EndpointFilter: {},
  EventFilter: {},
  DeliveryFilter: {},
  PageInput: {},
  RegisterEventTypeInput: { name: 'hostile.checked', description: 'A type for the hostile-input suite', example: { id: 1 } },
  AddEventTypeVersionInput: { name: 'order.created', version: '9.0', example: { orderId: 'O-1' } },
  CreateSourceInput: { name: 'hostile', scheme: 'GITHUB' },
  RetryPolicyInput: {},
  ReplayDeadLettersInput: {},
  CreatePortalSessionInput: { applicationId: 'app_default', capabilities: ['ENDPOINTS_READ'] },
  PortalThemeInput: {},
  AuditLogFilter: {},
};

/** Values that have the right GraphQL type but are wrong for the field: each must be refused with a code. */
const SEMANTICALLY_INVALID: Record<string, unknown[]> = {
  'RegisterEndpointInput.url': [
    'javascript:alert(1)',
    'ftp://example.com/x',
    'http://user:password@example.com/hook',
    `http://example.com/${'a'.repeat(3000)}`,
    'not a url',
    '',
  ],
  'RegisterEndpointInput.eventTypes': [['bad type!'], Array.from({ length: 1000 }, (_, i) => `t.${i}`)],
  'RegisterEndpointInput.headers': [{ 'bad name': 'x' }, { 'x-ok': 'line\nbreak' }, { host: 'evil' }],
  'RegisterEndpointInput.secret': ['not-a-secret', 'whsec_short'],
  'RegisterEndpointInput.description': ['d'.repeat(1001)],
  'RegisterEndpointInput.applicationId': ['app_doesnotexist'],
  'UpdateEndpointInput.url': ['javascript:alert(1)', 'file:///etc/passwd'],
  'UpdateEndpointInput.eventTypes': [['**bad**?']],
  'UpdateEndpointInput.headers': [{ 'webhook-signature': 'forged' }],
  'PublishEventInput.type': ['', 'has space', 't'.repeat(300)],
  'PublishEventInput.data': ['a string', [1, 2]],
  'PublishEventInput.version': ['v'.repeat(100), 'bad version!'],
  'PublishEventInput.idempotencyKey': ['k'.repeat(300), ''],
  'PublishEventInput.applicationId': ['app_doesnotexist'],
  'CreateApplicationInput.name': ['', 'n'.repeat(201)],
  'CreateApiKeyInput.name': ['', 'n'.repeat(201)],
  'CreateApiKeyInput.expiresAt': ['2000-01-01T00:00:00Z', '2999-01-01T00:00:00Z'],
  'CreateApiKeyInput.applicationId': ['app_doesnotexist'],
  'RegisterEndpointInput.rateLimitPerSecond': [0, -5, 10_001],
  'UpdateEndpointInput.rateLimitPerSecond': [0, 1_000_000],
  'ReplayDeadLettersInput.endpointId': ['ep_doesnotexist'],
  'ReplayDeadLettersInput.applicationId': ['app_doesnotexist'],
  'ReplayDeadLettersInput.eventType': ['t'.repeat(300)],
  'PageInput.first': [0, -1, 101, 1_000_000],
  'PageInput.after': ['not-a-cursor', Buffer.from('c1:x; drop table events').toString('base64url')],
};

/** Values of the wrong GraphQL type for a field of this type. */
function wrongTypeValues(type: GraphQLInputType): unknown[] {
  const values: unknown[] = [];
  if (isNonNullType(type)) values.push(null);
  const inner = isNonNullType(type) ? type.ofType : type;
  if (isListType(inner)) return [...values, { not: 'a list' }, [{ nested: { deeply: [1] } }]];
  const named = getNamedType(inner);
  if (isEnumType(named)) return [...values, 'NOT_A_VALUE', 42];
  if (isInputObjectType(named)) return [...values, 'not an object', [1, 2, 3]];
  if (isScalarType(named)) {
    switch (named.name) {
      case 'Int':
        return [...values, 'forty', 1.5, 2 ** 40];
      case 'Boolean':
        return [...values, 'yes', 0];
      case 'String':
      case 'ID':
        return [...values, { an: 'object' }, ['a', 'list']];
      case 'DateTimeISO':
        return [...values, 'yesterday', 'not a date'];
      case 'JSONObject':
        return [...values, 'a string', 42, [1, 2]];
      default:
        return [...values, { unexpected: true }];
    }
  }
  return values;
}

interface Case {
  name: string;
  query: string;
  variables: Record<string, unknown>;
}

/** For every input field of every input type: a request with exactly that field made invalid. */
function invalidValueCases(schema: GraphQLSchema, ids: { endpoint: string }): Case[] {
  const cases: Case[] = [];
  const roots = [
    ['query', schema.getQueryType()],
    ['mutation', schema.getMutationType()],
  ] as const;
  const done = new Set<string>();
  for (const [operation, root] of roots) {
    for (const field of Object.values(root!.getFields())) {
      for (const argument of field.args) {
        const inputType = getNamedType(argument.type);
        if (!isInputObjectType(inputType) || done.has(inputType.name)) continue;
        done.add(inputType.name);
        const base = VALID_INPUTS[inputType.name];
        expect(base, `a valid ${inputType.name} is known`).toBeDefined();
        const otherArgs = field.args.filter((other) => other !== argument && isNonNullType(other.type));
        const declarations = [`$v: ${String(argument.type)}`, ...otherArgs.map((other) => `$${other.name}: ${String(other.type)}`)];
        const call = [`${argument.name}: $v`, ...otherArgs.map((other) => `${other.name}: $${other.name}`)];
        const query = `${operation}(${declarations.join(', ')}) { ${field.name}(${call.join(', ')}) { __typename } }`;
        const others = Object.fromEntries(otherArgs.map((other) => [other.name, ids.endpoint]));
        for (const inputField of Object.values(inputType.getFields())) {
          const key = `${inputType.name}.${inputField.name}`;
          const bad = [...wrongTypeValues(inputField.type), ...(SEMANTICALLY_INVALID[key] ?? [])];
          bad.forEach((value, index) =>
            cases.push({
              name: `${field.name} ${key} #${index}`,
              query,
              variables: { ...others, v: { ...base, [inputField.name]: value } },
            }),
          );
        }
      }
    }
  }
  return cases;
}

/** An endpoint to name in the inputs that take one. */
const it = heraldTest.extend(
  'endpointId',
  { scope: 'file' },
  async ({ herald }) =>
    (await herald.call(RegisterEndpointDocument, { input: { url: 'http://127.0.0.1:9/hook' } })).registerEndpoint.endpoint.id,
);

describe('hostile input: every bad request gets a GraphQL error with a code, and the server keeps serving', () => {
  async function post(herald: TestHerald, body: string, headers: Record<string, string> = {}): Promise<Answer> {
    const response = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${herald.adminKey}`, ...headers },
      body,
    });
    const text = await response.text();
    let parsed: Answer['body'];
    try {
      parsed = JSON.parse(text) as Answer['body'];
    } catch {
      throw new Error(`HTTP ${response.status} answered with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    return { status: response.status, body: parsed };
  }

  function expectCoded(answer: Answer, name: string, code?: string): void {
    expect(answer.status, name).toBeLessThan(500);
    expect(answer.body.errors?.length, `${name}: ${JSON.stringify(answer.body).slice(0, 300)}`).toBeGreaterThan(0);
    for (const error of answer.body.errors!) {
      expect(KNOWN_CODES.has(error.extensions?.code ?? ''), `${name}: ${JSON.stringify(error).slice(0, 300)}`).toBe(true);
      if (code) expect(error.extensions?.code, name).toBe(code);
      expect(error.message.length, name).toBeGreaterThan(10);
    }
  }

  async function stillServing(herald: TestHerald): Promise<void> {
    const answer = await post(herald, JSON.stringify({ query: '{ currentApiKey { id } }' }));
    expect(answer.status).toBe(200);
    expect(answer.body.errors).toBeUndefined();
  }

  it('refuses an invalid value in every field of every input type, one field at a time', async ({ herald, endpointId }) => {
    const cases = invalidValueCases(await buildHeraldSchema(), { endpoint: endpointId });
    expect(cases.length).toBeGreaterThan(120);
    for (const testCase of cases) {
      expectCoded(await post(herald, JSON.stringify({ query: testCase.query, variables: testCase.variables })), testCase.name);
    }
    await stillServing(herald);
  });

  it('refuses deeply nested queries before running them (QUERY_TOO_COMPLEX)', async ({ herald }) => {
    let selection = 'id';
    for (let i = 0; i < 12; i++) selection = `event { deliveries { ${selection} } }`;
    const deep = `{ deliveries { nodes { ${selection} } } }`;
    const answer = await post(herald, JSON.stringify({ query: deep }));
    expectCoded(answer, 'deep', 'QUERY_TOO_COMPLEX');
    expect(answer.body.errors![0]!.message).toMatch(/nested \d+ levels deep; the limit is 10 \(GRAPHQL_MAX_DEPTH\)/);
    await stillServing(herald);
  });

  it('refuses queries whose estimated cost is too high, aliases and fragments included (QUERY_TOO_COMPLEX)', async ({ herald }) => {
    const aliases = Array.from({ length: 120 }, (_, i) => `a${i}: deliveries(page: { first: 100 }) { nodes { ...D } }`).join(' ');
    const answer = await post(herald, JSON.stringify({ query: `{ ${aliases} } fragment D on Delivery { id status attempts { id } }` }));
    expectCoded(answer, 'cost', 'QUERY_TOO_COMPLEX');
    expect(answer.body.errors![0]!.message).toMatch(/estimated cost is \d+; the limit is 20000 \(GRAPHQL_MAX_COST\)/);
    await stillServing(herald);
  });

  it('refuses an oversized document (QUERY_TOO_LARGE, 413), an oversized body and malformed JSON', async ({ herald }) => {
    const huge = `{ ${Array.from({ length: 2000 }, (_, i) => `f${i}: __typename`).join(' ')} }`;
    const tooLarge = await post(herald, JSON.stringify({ query: huge }));
    expect(tooLarge.status).toBe(413);
    expectCoded(tooLarge, 'document size', 'QUERY_TOO_LARGE');
    expectCoded(
      await post(herald, JSON.stringify({ query: '{ __typename }', variables: { x: 'y'.repeat(2_000_000) } })),
      'body',
      'PAYLOAD_TOO_LARGE',
    );
    expectCoded(await post(herald, '{"query": "{ __typename }"'), 'malformed JSON', 'BAD_REQUEST');
    expectCoded(await post(herald, '{"query": 42}'), 'query not a string');
    expectCoded(await post(herald, '[{"query": "{ __typename }"}, {"query": "{ __typename }"}]'), 'batch');
    expectCoded(await post(herald, JSON.stringify({ query: '{ deliveries { nodes { id } ' })), 'unterminated', 'GRAPHQL_PARSE_FAILED');
    expectCoded(
      await post(herald, JSON.stringify({ query: 'fragment A on Query { ...B } fragment B on Query { ...A } { ...A }' })),
      'fragment cycle',
    );
    await stillServing(herald);
  });

  it('applies the same limits over graphql-ws', async ({ herald }) => {
    const client = herald.wsClient();
    const outcome = (query: string) =>
      new Promise<unknown>((resolve) => {
        client.subscribe({ query }, { next: resolve, error: resolve, complete: () => resolve('complete') });
      });
    let selection = '__typename';
    for (let i = 0; i < 12; i++) selection = `delivery { event { ${selection} } }`;
    const deep = await outcome(`subscription { deliveryUpdated { ${selection} } }`);
    expect(JSON.stringify(deep)).toContain('QUERY_TOO_COMPLEX');
    const huge = await outcome(
      `subscription { deliveryUpdated { ${Array.from({ length: 3000 }, (_, i) => `f${i}: __typename`).join(' ')} } }`,
    );
    expect(JSON.stringify(huge)).toContain('QUERY_TOO_LARGE');
    await stillServing(herald);
  });
});
