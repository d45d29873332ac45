import 'reflect-metadata';
import { type GraphQLSchema, parse, validate } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { HERALD_CODE_EXTENSION, queryLimitRule } from '../../src/graphql/query-limits';
import { buildHeraldSchema } from '../../src/graphql/schema';

let schema: GraphQLSchema;

beforeAll(async () => {
  schema = await buildHeraldSchema();
});

function errorsAt(query: string, maxCost: number, maxDepth = 10) {
  return validate(schema, parse(query), [queryLimitRule({ maxDepth, maxCost })]);
}

/** The document costs exactly `cost`: accepted at that limit, refused one below it with that figure. */
function expectCost(query: string, cost: number): void {
  expect(errorsAt(query, cost), query).toEqual([]);
  const refused = errorsAt(query, cost - 1);
  expect(refused, query).toHaveLength(1);
  expect(refused[0]!.extensions).toMatchObject({ [HERALD_CODE_EXTENSION]: 'QUERY_TOO_COMPLEX', cost, limit: cost - 1 });
}

describe('queryLimitRule: field complexity', () => {
  it('costs a paged list at the page size it asks for, the default page without one, and the largest page for a variable', () => {
    expectCost('{ deliveries(page: { first: 5 }) { nodes { id } } }', 1 + 5 * 2);
    expectCost('{ deliveries { nodes { id } } }', 1 + 20 * 2);
    expectCost('query ($page: PageInput) { deliveries(page: $page) { nodes { id } } }', 1 + 100 * 2);
    expectCost('query ($first: Int) { events(page: { first: $first }) { nodes { id } } }', 1 + 100 * 2);
  });

  it('costs every paged list by its complexity, whatever its name', () => {
    for (const field of ['apiKeys', 'applications', 'deadLetters', 'endpoints', 'events', 'replays']) {
      expectCost(`{ ${field}(page: { first: 3 }) { nodes { id } } }`, 1 + 3 * 2);
      expectCost(`{ ${field} { nodes { id } } }`, 1 + 20 * 2);
    }
  });

  it('costs lists without a page at their fixed sizes, and other fields at 1 plus what they select', () => {
    expectCost('{ delivery(id: "dlv_1") { attempts { id } } }', 1 + (1 + 10 * 1));
    expectCost('{ event(id: "evt_1") { deliveries { id status } } }', 1 + (1 + 20 * 2));
    expectCost('{ metrics { endpoints { url } attempts } }', 1 + (1 + 20 * 1) + 1);
    expectCost('{ currentApiKey { id name } }', 1 + 2);
  });

  it('follows fragments and inline fragments to their types', () => {
    expectCost('{ deliveries(page: { first: 2 }) { nodes { ...D } } } fragment D on Delivery { attempts { id } }', 1 + 2 * (1 + 11));
    expectCost('{ deliveries(page: { first: 2 }) { nodes { ... on Delivery { attempts { id } } } } }', 1 + 2 * (1 + 11));
    expectCost('subscription { deliveryUpdated { delivery { event { deliveries { id } } } } }', 1 + (1 + (1 + (1 + 20))));
  });

  it('refuses a document over the limit with the cost and the limit in the message', () => {
    const [refused] = errorsAt('{ a: deliveries(page: { first: 100 }) { nodes { id } } b: events { nodes { id } } }', 200);
    expect(refused?.message).toBe(
      "The query's estimated cost is 242; the limit is 200 (GRAPHQL_MAX_COST). Ask for smaller pages or fewer nested lists.",
    );
  });

  it('refuses a document nested deeper than the depth limit before costing it', () => {
    const [refused] = errorsAt('{ delivery(id: "dlv_1") { event { deliveries { event { id } } } } }', 1_000_000, 4);
    expect(refused?.message).toMatch(/nested 5 levels deep; the limit is 4 \(GRAPHQL_MAX_DEPTH\)/);
    expect(refused?.extensions).toMatchObject({ [HERALD_CODE_EXTENSION]: 'QUERY_TOO_COMPLEX', depth: 5, limit: 4 });
  });
});
