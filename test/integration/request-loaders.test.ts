import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, describe, expect, vi } from 'vitest';
import {
  CreateApplicationDocument,
  DeliveriesDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTest as test } from '../helpers/fixtures';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

interface DeliveriesWithRelations {
  deliveries: {
    nodes: Array<{
      id: string;
      eventId: string;
      endpointId: string;
      attempts: Array<{ number: number; responseStatus: number | null }>;
      event: { id: string; type: string; deliveries: Array<{ id: string }> };
      endpoint: { id: string; url: string };
    }>;
  };
}

const DELIVERIES_WITH_RELATIONS: TypedDocumentNode<DeliveriesWithRelations, { applicationId: string; first: number }> = parse(`
  query DeliveriesWithRelations($applicationId: ID!, $first: Int!) {
    deliveries(filter: { applicationId: $applicationId }, page: { first: $first }) {
      nodes {
        id
        eventId
        endpointId
        attempts { number responseStatus }
        event { id type deliveries { id } }
        endpoint { id url }
      }
    }
  }
`);

/** The tables the ORM's statements read while `work` runs, with how many statements read each. */
async function statementsPerTable(herald: TestHerald, work: () => Promise<unknown>): Promise<Record<string, number>> {
  const connection = herald.handle.database.orm.em.getConnection();
  const executed = vi.spyOn(connection, 'execute');
  let statements: typeof executed.mock.calls;
  try {
    await work();
  } finally {
    // Restoring the method clears the calls it recorded.
    statements = [...executed.mock.calls];
    executed.mockRestore();
  }
  const tables: Record<string, number> = {};
  for (const [statement] of statements) {
    const text = typeof statement === 'string' ? statement : statement.toSQL().sql;
    const table = /\bfrom "(\w+)"/.exec(text)?.[1];
    if (table && table !== 'api_keys') tables[table] = (tables[table] ?? 0) + 1;
  }
  return tables;
}

describe('Field resolvers load related rows per request, one query per field for a whole list', () => {
  const receivers: WebhookReceiver[] = [];
  afterAll(async () => {
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  test('a page of deliveries with their attempts, event, event deliveries and endpoint: the same statements for 3 or 10 deliveries, and the right rows', async ({
    herald,
  }) => {
    const ok = await WebhookReceiver.start();
    // Every delivery to this one fails once, then succeeds: two attempts each.
    const seen = new Set<string>();
    const flaky = await WebhookReceiver.start((request) => {
      const id = String(request.headers['webhook-id']);
      if (seen.has(id)) return { status: 200 };
      seen.add(id);
      return { status: 500 };
    });
    receivers.push(ok, flaky);
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'loaders' } });
    const applicationId = createApplication.id;
    const register = async (url: string, eventTypes: string[]) =>
      (await herald.call(RegisterEndpointDocument, { input: { applicationId, url, eventTypes } })).registerEndpoint.endpoint.id;
    const everything = await register(ok.url, []);
    const failingOnce = await register(flaky.url, []);
    const onlyA = await register(ok.url, ['loader.a']);
    const { publishEvents } = await herald.call(PublishEventsDocument, {
      inputs: ['loader.a', 'loader.b', 'loader.a', 'loader.b'].map((type, n) => ({ applicationId, type, data: { n } })),
    });
    const typeOf = new Map(publishEvents.map((event) => [event.id, event.type]));
    await waitUntil(
      async () => (await herald.call(DeliveriesDocument, { filter: { applicationId }, page: { first: 100 } })).deliveries.nodes,
      (nodes) => nodes.length === 10 && nodes.every((node) => node.status === 'SUCCEEDED'),
    );

    const fetchPage = (first: number) => herald.call(DELIVERIES_WITH_RELATIONS, { applicationId, first });
    const oneStatementEach = { deliveries: 2, delivery_attempts: 1, events: 1, endpoints: 1 };
    expect(await statementsPerTable(herald, () => fetchPage(3))).toEqual(oneStatementEach);
    let page: DeliveriesWithRelations | undefined;
    expect(
      await statementsPerTable(herald, async () => {
        page = await fetchPage(10);
      }),
    ).toEqual(oneStatementEach);

    const nodes = page!.deliveries.nodes;
    expect(nodes).toHaveLength(10);
    const urls = new Map([
      [everything, ok.url],
      [failingOnce, flaky.url],
      [onlyA, ok.url],
    ]);
    for (const node of nodes) {
      const attempts = node.endpointId === failingOnce ? [500, 200] : [200];
      expect(node.attempts, node.id).toEqual(attempts.map((responseStatus, index) => ({ number: index + 1, responseStatus })));
      expect(node.event.id).toBe(node.eventId);
      expect(node.event.type).toBe(typeOf.get(node.eventId));
      const ofEvent = nodes.filter((other) => other.eventId === node.eventId).map((other) => other.id);
      expect(node.event.deliveries.map((delivery) => delivery.id)).toEqual(ofEvent.sort());
      expect(node.endpoint).toEqual({ id: node.endpointId, url: urls.get(node.endpointId) });
    }
    expect(nodes.filter((node) => node.endpointId === onlyA).map((node) => typeOf.get(node.eventId))).toEqual(['loader.a', 'loader.a']);

    // An application key sees the same rows through its tenant scope.
    const applicationKey = await herald.createKey({ name: 'loaders app key', applicationId });
    expect(await herald.callAs(applicationKey, DELIVERIES_WITH_RELATIONS, { applicationId, first: 10 })).toEqual(page);
  });
});
