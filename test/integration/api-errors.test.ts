import { afterAll, beforeAll, describe, it } from 'vitest';
import { CreateApplicationDocument } from '../../src/sdk/generated/graphql';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';

describe('probe', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, { config: { maxPayloadBytes: 2048 } });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });
  async function raw(body: string) {
    const r = await fetch(`${herald.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return `${r.status} ${await r.text()}`;
  }
  const gql = (query: string, variables?: unknown) => raw(JSON.stringify({ query, variables }));
  it('probe', async () => {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'p' } });
    const app = createApplication.id;
    const reg = 'mutation($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { secret endpoint { id } } }';
    const pub = 'mutation($input: PublishEventInput!) { publishEvent(input: $input) { id } }';
    const cases: Array<[string, string]> = [
      ['idem NUL', await gql(pub, { input: { applicationId: app, type: 'a.b', data: {}, idempotencyKey: 'a\u0000b' } })],
      ['data NUL', await gql(pub, { input: { applicationId: app, type: 'a.b', data: { k: 'a\u0000b' } } })],
      ['desc NUL', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/x', description: 'a\u0000b' } })],
      ['meta NUL', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/x', metadata: { k: 'a\u0000b' } } })],
      ['app NUL', await gql('mutation { createApplication(input: {name: "a\\u0000b"}) { id } }')],
      ['id NUL', await gql('query($id: ID!) { endpoint(id: $id) { id } }', { id: 'ep_\u0000' })],
      ['appid NUL', await gql(pub, { input: { applicationId: 'app_\u0000', type: 'a.b', data: {} } })],
      ['url NUL', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/a\u0000b' } })],
      ['evt filter', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/x', eventTypes: ['bad type'] } })],
      ['header num', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/x', headers: { 'x-a': 5 } } })],
      ['header reserved', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/x', headers: { 'Webhook-Id': 'x' } } })],
      ['secret bad', await gql(reg, { input: { applicationId: app, url: 'http://127.0.0.1:1/x', secret: 'whsec_abc' } })],
      ['version bad', await gql(pub, { input: { applicationId: app, type: 'a.b', data: {}, version: 'v 1' } })],
      ['long id', await gql('query($id: ID!) { endpoint(id: $id) { id } }', { id: 'x'.repeat(100000) })],
      ['empty body', await raw('')],
      ['array body', await raw('[]')],
      ['query num', await raw('{"query": 5}')],
      ['vars string', await raw('{"query": "{ applications { nodes { id } } }", "variables": "x"}')],
      ['no query', await raw('{}')],
      ['first huge var', await gql('query($p: PageInput) { endpoints(page: $p) { nodes { id } } }', { p: { first: 2 ** 40 } })],
      ['text/plain', await (async () => { const r = await fetch(`${herald.url}/graphql`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"query":"{ applications { nodes { id } } }"}' }); return `${r.status} ${await r.text()}`; })()],
      ['deep data', await gql(pub, { input: { applicationId: app, type: 'a.b', data: JSON.parse('{"a":'.repeat(500) + '1' + '}'.repeat(500)) } })],
      ['created filter bad', await gql('{ deliveries(filter: {createdAfter: "yesterday"}) { nodes { id } } }')],
      ['status enum bad', await gql('query($s: [DeliveryStatus!]) { deliveries(filter: {status: $s}) { nodes { id } } }', { s: ['NOPE'] })],
      ['ok', await gql('{ applications { nodes { id } } }')],
    ];
    for (const [name, result] of cases) console.log(name, '=>', result.slice(0, 400));
    for (const line of herald.logs) if (line.includes('unexpected error')) console.log('LOG', line.slice(0, 1500));
  });
});
