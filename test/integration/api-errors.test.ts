import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type FormattedExecutionResult, type GraphQLFormattedError, print } from 'graphql';
import type { Client } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import {
  ApplicationsDocument,
  CreateApplicationDocument,
  DeadLettersDocument,
  DeleteEndpointDocument,
  DeliveriesDocument,
  DeliveryDocument,
  DisableEndpointDocument,
  EnableEndpointDocument,
  EndpointDocument,
  EndpointsDocument,
  EventDocument,
  EventPublishedDocument,
  type EventPublishedSubscription,
  EventsDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
  RetryDeliveryDocument,
  RotateEndpointSecretDocument,
  SendTestEventDocument,
  UpdateEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import { SubscriptionRecorder, type TestHerald } from '../helpers/herald';

interface HttpResult {
  status: number;
  body: FormattedExecutionResult<Record<string, unknown>>;
}

const heraldFile = heraldTestWith({ config: { maxPayloadBytes: 2048 } });

describe('API errors: bad input gets a stable code and a helpful message, and the server keeps serving', () => {
  let herald: TestHerald;

  heraldFile.beforeAll(({ herald: fileHerald }) => {
    herald = fileHerald;
  });

  async function post(body: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    const response = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${herald.adminKey}`, ...headers },
      body,
    });
    const text = await response.text();
    let parsed: HttpResult['body'];
    try {
      parsed = JSON.parse(text) as HttpResult['body'];
    } catch {
      throw new Error(`HTTP ${response.status} answered with a body that is not JSON: ${text.slice(0, 300)}`);
    }
    return { status: response.status, body: parsed };
  }

  const raw = (query: string, variables?: Record<string, unknown>) => post(JSON.stringify({ query, variables }));

  function send<TData, TVariables>(document: TypedDocumentNode<TData, TVariables>, variables: TVariables): Promise<HttpResult> {
    return raw(print(document), variables as Record<string, unknown>);
  }

  /** The one error of a failed request, checked to carry `code`; never a 5xx. */
  function expectError(result: HttpResult, code: string): GraphQLFormattedError {
    expect(result.status, JSON.stringify(result.body)).toBeLessThan(500);
    expect(result.body.errors, JSON.stringify(result.body)).toHaveLength(1);
    const error = result.body.errors![0]!;
    expect(error.extensions?.code, JSON.stringify(error)).toBe(code);
    expect(error.message.length).toBeGreaterThan(10);
    expect(error.message).not.toMatch(/Internal server error|\bat .*\.ts:\d+|select |insert into/i);
    return error;
  }

  /** A plain successful request: the server is still up and answering. */
  async function expectServing(): Promise<void> {
    const result = await send(ApplicationsDocument, { page: { first: 1 } });
    expect(result.status).toBe(200);
    expect(result.body.errors).toBeUndefined();
    expect((result.body.data as { applications: { nodes: unknown[] } }).applications.nodes).toHaveLength(1);
  }

  function expectNothingUnexpectedLogged(): void {
    const unexpected = herald.logs.filter((line) => line.includes('unexpected'));
    expect(unexpected, unexpected.join('\n').slice(0, 2000)).toEqual([]);
  }

  async function newApplication(): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'api errors' } });
    return createApplication.id;
  }

  it('refuses unusable endpoint URLs with BAD_USER_INPUT on field "url" and says what to fix', async () => {
    const applicationId = await newApplication();
    const cases: Array<[string, RegExp]> = [
      ['javascript:alert(1)', /must use http or https, not "javascript"/],
      ['ftp://x.test/', /must use http or https, not "ftp"/],
      ['file:///etc/passwd', /must use http or https, not "file"/],
      ['http://user:pass@example.test/', /must not contain credentials.*custom header/],
      ['not a url', /"not a url" is not a valid URL: give an absolute http:\/\/ or https:\/\/ URL/],
      ['', /empty: give an http:\/\/ or https:\/\/ URL/],
      [`https://example.test/${'a'.repeat(3000)}`, /is 3021 characters long; the limit is 2048/],
    ];
    for (const [url, message] of cases) {
      const error = expectError(await send(RegisterEndpointDocument, { input: { url, applicationId } }), 'BAD_USER_INPUT');
      expect(error.message, url.slice(0, 40)).toMatch(message);
      expect(error.extensions?.field).toBe('url');
      expect(error.path).toEqual(['registerEndpoint']);
    }
    const { endpoints } = await herald.call(EndpointsDocument, { filter: { applicationId } });
    expect(endpoints.nodes).toEqual([]);

    // updateEndpoint applies the same rules and leaves the endpoint as it was.
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { url: 'http://127.0.0.1:9/hook', applicationId } });
    const error = expectError(
      await send(UpdateEndpointDocument, { id: registerEndpoint.endpoint.id, input: { url: 'ftp://x.test/' } }),
      'BAD_USER_INPUT',
    );
    expect(error.extensions?.field).toBe('url');
    const { endpoint } = await herald.call(EndpointDocument, { id: registerEndpoint.endpoint.id });
    expect(endpoint.url).toBe('http://127.0.0.1:9/hook');
    await expectServing();
    expectNothingUnexpectedLogged();
  });

  it('refuses invalid events: bad type, non-object data, oversized payload, overlong idempotency key', async () => {
    const applicationId = await newApplication();
    for (const type of ['bad type!', '', 'a'.repeat(200)]) {
      const error = expectError(await send(PublishEventDocument, { input: { type, data: {}, applicationId } }), 'BAD_USER_INPUT');
      expect(error.message).toMatch(/is not a valid event type: use 1 to 128 letters, digits/);
      expect(error.extensions?.field).toBe('type');
    }

    // An array is not a JSONObject: refused while coercing the variables, before any resolver runs.
    const arrayData = await send(PublishEventDocument, { input: { type: 'order.created', data: [1, 2] as never, applicationId } });
    expect(arrayData.status).toBe(400);
    const arrayError = expectError(arrayData, 'BAD_USER_INPUT');
    expect(arrayError.message).toMatch(/"\$input".*input\.data.*JSONObject cannot represent non-object value/);

    // Limit 2048 bytes in this Herald; about 3 KB of data.
    const tooLarge = expectError(
      await send(PublishEventDocument, { input: { type: 'order.created', data: { blob: 'x'.repeat(3000) }, applicationId } }),
      'PAYLOAD_TOO_LARGE',
    );
    expect(tooLarge.message).toMatch(/"data" is 3011 bytes as JSON; the limit is 2048 bytes/);
    expect(tooLarge.extensions).toMatchObject({ field: 'data', bytes: 3011, limit: 2048 });

    const badKey = expectError(
      await send(PublishEventDocument, { input: { type: 'order.created', data: {}, applicationId, idempotencyKey: 'k'.repeat(256) } }),
      'BAD_USER_INPUT',
    );
    expect(badKey.message).toMatch(/"idempotencyKey" must be 1 to 255 characters/);
    expect(badKey.extensions?.field).toBe('idempotencyKey');

    const { events } = await herald.call(EventsDocument, { filter: { applicationId } });
    expect(events.nodes).toEqual([]);
    // Just under the limit is accepted.
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { type: 'order.created', data: { orderId: 'O-1', blob: 'x'.repeat(2000) }, applicationId, idempotencyKey: 'k'.repeat(255) },
    });
    expect(publishEvent.id).toMatch(/^evt_/);
    // Characters as PostgreSQL counts them (as herald.publish_event does): 255 emoji are 510 UTF-16 units.
    const emojiKeys = await herald.call(PublishEventDocument, {
      input: {
        type: 'order.created',
        data: { orderId: 'O-2' },
        applicationId,
        idempotencyKey: '😀'.repeat(255),
        orderingKey: '😀'.repeat(255),
      },
    });
    expect(emojiKeys.publishEvent.id).toMatch(/^evt_/);
    const tooManyEmoji = expectError(
      await send(PublishEventDocument, { input: { type: 'order.created', data: {}, applicationId, orderingKey: '😀'.repeat(256) } }),
      'BAD_USER_INPUT',
    );
    expect(tooManyEmoji.message).toMatch(/"orderingKey" must be 1 to 255 characters/);
    expectNothingUnexpectedLogged();
  });

  it('answers NOT_FOUND, naming the id, for every lookup or change of something that does not exist', async () => {
    const endpointId = 'ep_0000000000nosuchendpoint00';
    const eventId = 'evt_000000000nosuchevent0000';
    const deliveryId = 'dlv_000000000nosuchdelivery0';
    const applicationId = 'app_000000000nosuchapp00000';
    const cases: Array<[string, Promise<HttpResult>, string, string]> = [
      ['endpoint', send(EndpointDocument, { id: endpointId }), endpointId, 'endpoint'],
      ['event', send(EventDocument, { id: eventId }), eventId, 'event'],
      ['delivery', send(DeliveryDocument, { id: deliveryId }), deliveryId, 'delivery'],
      ['retryDelivery', send(RetryDeliveryDocument, { id: deliveryId }), deliveryId, 'delivery'],
      ['updateEndpoint', send(UpdateEndpointDocument, { id: endpointId, input: { description: 'x' } }), endpointId, 'endpoint'],
      ['deleteEndpoint', send(DeleteEndpointDocument, { id: endpointId }), endpointId, 'endpoint'],
      ['disableEndpoint', send(DisableEndpointDocument, { id: endpointId }), endpointId, 'endpoint'],
      ['enableEndpoint', send(EnableEndpointDocument, { id: endpointId }), endpointId, 'endpoint'],
      ['rotateEndpointSecret', send(RotateEndpointSecretDocument, { id: endpointId }), endpointId, 'endpoint'],
      ['sendTestEvent', send(SendTestEventDocument, { endpointId }), endpointId, 'endpoint'],
      [
        'publishEvent',
        send(PublishEventDocument, { input: { type: 'order.created', data: {}, applicationId } }),
        applicationId,
        'application',
      ],
      [
        'registerEndpoint',
        send(RegisterEndpointDocument, { input: { url: 'http://127.0.0.1:9/', applicationId } }),
        applicationId,
        'application',
      ],
    ];
    for (const [operation, pending, id, kind] of cases) {
      const result = await pending;
      expect(result.status).toBe(200);
      const error = expectError(result, 'NOT_FOUND');
      expect(error.message).toBe(`No ${kind} with id "${id}" exists.`);
      expect(error.extensions?.id).toBe(id);
      expect(error.path).toEqual([operation]);
    }
    await expectServing();
    expectNothingUnexpectedLogged();
  });

  it('refuses page sizes outside 1..100 and cursors it did not issue, on every list', async () => {
    const lists: Array<[string, (page: { first?: number; after?: string }) => Promise<HttpResult>]> = [
      ['applications', (page) => send(ApplicationsDocument, { page })],
      ['endpoints', (page) => send(EndpointsDocument, { page })],
      ['events', (page) => send(EventsDocument, { page })],
      ['deliveries', (page) => send(DeliveriesDocument, { page })],
      ['deadLetters', (page) => send(DeadLettersDocument, { page })],
    ];
    for (const [name, list] of lists) {
      for (const first of [0, 1000]) {
        const error = expectError(await list({ first }), 'BAD_USER_INPUT');
        expect(error.message, name).toBe(`"first" must be between 1 and 100; got ${first}.`);
        expect(error.extensions?.field).toBe('first');
      }
      const error = expectError(await list({ after: 'garbage' }), 'BAD_USER_INPUT');
      expect(error.message, name).toMatch(/"after" is not a cursor this API returned: pass a pageInfo.endCursor unchanged/);
      expect(error.extensions?.field).toBe('after');
    }
    await expectServing();
    expectNothingUnexpectedLogged();
  });

  it('reports syntax errors, unknown fields, mistyped variables and malformed JSON with their codes, then serves the next request', async () => {
    const syntax = await raw('{ endpoints(page: {first: 2 ');
    expect(syntax.status).toBe(400);
    expect(expectError(syntax, 'GRAPHQL_PARSE_FAILED').message).toMatch(/^Syntax Error: /);
    await expectServing();

    const unknownField = await raw('{ endpoints { nodes { id nope } } }');
    expect(unknownField.status).toBe(400);
    expect(expectError(unknownField, 'GRAPHQL_VALIDATION_FAILED').message).toBe('Cannot query field "nope" on type "Endpoint".');
    await expectServing();

    // `secret` exists only on EndpointWithSecret: asking an Endpoint for it is a validation error.
    const secretField = await raw('{ endpoints { nodes { id secret } } }');
    expect(expectError(secretField, 'GRAPHQL_VALIDATION_FAILED').message).toBe('Cannot query field "secret" on type "Endpoint".');
    await expectServing();

    const wrongVariable = await send(EndpointsDocument, { page: { first: 'abc' as never } });
    expect(wrongVariable.status).toBe(400);
    expect(expectError(wrongVariable, 'BAD_USER_INPUT').message).toMatch(
      /^Variable "\$page" got invalid value "abc" at "page.first"; Int cannot represent non-integer value: "abc"/,
    );
    await expectServing();

    const missingVariable = await raw(print(EndpointDocument), {});
    expect(expectError(missingVariable, 'BAD_USER_INPUT').message).toMatch(/^Variable "\$id" of required type "ID!" was not provided/);
    await expectServing();

    for (const body of ['{"query": ', '{query: "{ applications { nodes { id } } }"}', 'not json at all']) {
      const malformed = await post(body);
      expect(malformed.status).toBe(400);
      expect(expectError(malformed, 'BAD_REQUEST').message).toBe('The request body is not valid JSON.');
      await expectServing();
    }

    const notGraphQL = await post('{"query": 5}');
    expect(notGraphQL.status).toBe(400);
    expect(expectError(notGraphQL, 'BAD_REQUEST').message).toBe('GraphQL queries must be strings.');
    await expectServing();
    expectNothingUnexpectedLogged();
  });

  // A plain JSON POST is served without express (src/graphql/graphql-post.ts); other JSON content types still go
  // through express.json. Both must answer alike.
  it('answers a JSON POST alike whether or not it takes the direct route', async () => {
    const routes = { direct: 'application/json', express: 'application/json; profile=test' };
    for (const [route, contentType] of Object.entries(routes)) {
      const headers = { 'content-type': contentType };
      const ok = await post(JSON.stringify({ query: '{ __typename }' }), headers);
      expect(ok, route).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
      const malformed = await post('{"query": ', headers);
      expect(malformed.status, route).toBe(400);
      expect(expectError(malformed, 'BAD_REQUEST').message).toBe('The request body is not valid JSON.');
      const scalar = await post('42', headers);
      expect(scalar.status, route).toBe(400);
      expect(expectError(scalar, 'BAD_REQUEST').message).toBe('The request body is not valid JSON.');
      const tooLarge = await post(JSON.stringify({ query: '{ __typename }', variables: { x: 'y'.repeat(3_000_000) } }), headers);
      expect(tooLarge.status, route).toBe(413);
      expect(expectError(tooLarge, 'PAYLOAD_TOO_LARGE').message).toBe('The request body is too large.');
      const unauthenticated = await post(JSON.stringify({ query: '{ __typename }' }), { ...headers, authorization: 'Bearer nope' });
      expect(unauthenticated.status, route).toBe(401);
      expectError(unauthenticated, 'UNAUTHENTICATED');
      const tagged = await fetch(`${herald.url}/graphql`, {
        method: 'POST',
        headers: { ...headers, authorization: `Bearer ${herald.adminKey}`, 'x-request-id': `trace-${route}` },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(tagged.headers.get('x-request-id'), route).toBe(`trace-${route}`);
      expect(tagged.headers.get('etag'), route).toBeNull();
    }
    await expectServing();
  });

  it('refuses text containing the NUL character with BAD_USER_INPUT instead of an internal error', async () => {
    const applicationId = await newApplication();
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { url: 'http://127.0.0.1:9/', applicationId } });
    const nul = 'a\u0000b';
    const cases: Array<[string, Promise<HttpResult>]> = [
      ['createApplication', send(CreateApplicationDocument, { input: { name: nul } })],
      ['registerEndpoint', send(RegisterEndpointDocument, { input: { url: 'http://127.0.0.1:9/', applicationId, description: nul } })],
      ['registerEndpoint', send(RegisterEndpointDocument, { input: { url: 'http://127.0.0.1:9/', applicationId, metadata: { k: nul } } })],
      ['updateEndpoint', send(UpdateEndpointDocument, { id: registerEndpoint.endpoint.id, input: { description: nul } })],
      [
        'publishEvent',
        send(PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'O-1' }, applicationId, idempotencyKey: nul } }),
      ],
      ['publishEvent', send(PublishEventDocument, { input: { type: 'order.created', data: {}, applicationId: nul } })],
      ['endpoint', send(EndpointDocument, { id: `ep_${nul}` })],
    ];
    for (const [operation, pending] of cases) {
      const error = expectError(await pending, 'BAD_USER_INPUT');
      expect(error.message).toMatch(/NUL character.*remove it/);
      expect(error.path).toEqual([operation]);
    }
    const { endpoint } = await herald.call(EndpointDocument, { id: registerEndpoint.endpoint.id });
    expect(endpoint.description).toBeNull();
    const { events } = await herald.call(EventsDocument, { filter: { applicationId } });
    expect(events.nodes).toEqual([]);
    await expectServing();
    expectNothingUnexpectedLogged();
  });

  it('over graphql-ws, answers an invalid subscription with an error message on the open socket, which keeps serving', async () => {
    const client = herald.wsClient();
    const closes: unknown[] = [];
    client.on('closed', (event) => closes.push(event));

    function outcome(query: string, variables?: Record<string, unknown>) {
      return new Promise<{ kind: 'error'; errors: GraphQLFormattedError[] } | { kind: 'next'; value: FormattedExecutionResult }>(
        (resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no answer to ${query} within 5 s`)), 5000);
          const done = (value: Parameters<typeof resolve>[0]) => {
            clearTimeout(timer);
            resolve(value);
          };
          subscribe(client, query, variables, done);
        },
      );
    }

    const unknownField = await outcome('subscription { eventPublished { id nope } }');
    expect(unknownField.kind).toBe('error');
    const [validation] = (unknownField as { errors: GraphQLFormattedError[] }).errors;
    expect(validation).toMatchObject({
      message: expect.stringMatching(/^Cannot query field "nope" on type "Event"\./),
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });

    const syntax = await outcome('subscription { eventPublished { id ');
    expect(syntax.kind).toBe('error');
    expect((syntax as { errors: GraphQLFormattedError[] }).errors[0]).toMatchObject({
      message: expect.stringMatching(/^Syntax Error: /),
      extensions: { code: 'GRAPHQL_PARSE_FAILED' },
    });

    const wrongVariable = await outcome('subscription($s: [DeliveryStatus!]) { deliveryUpdated(status: $s) { delivery { id } } }', {
      s: ['NOPE'],
    });
    expect(wrongVariable.kind).toBe('next');
    expect((wrongVariable as { value: FormattedExecutionResult }).value.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/Value "NOPE" does not exist in "DeliveryStatus" enum/),
      extensions: { code: 'BAD_USER_INPUT' },
    });

    expect(closes).toEqual([]);
    // The same socket still subscribes and streams.
    const applicationId = await newApplication();
    const recorder = new SubscriptionRecorder<EventPublishedSubscription>(client, EventPublishedDocument, { applicationId });
    await recorder.ready;
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { type: 'order.created', data: { orderId: 'O-1', n: 1 }, applicationId },
    });
    const [update] = await recorder.waitFor((all) => all.length > 0);
    expect(update!.eventPublished).toMatchObject({ id: publishEvent.id, type: 'order.created', data: { orderId: 'O-1', n: 1 } });
    recorder.stop();
    expect(closes).toEqual([]);
    expectNothingUnexpectedLogged();
  });
});

function subscribe(
  client: Client,
  query: string,
  variables: Record<string, unknown> | undefined,
  done: (value: { kind: 'error'; errors: GraphQLFormattedError[] } | { kind: 'next'; value: FormattedExecutionResult }) => void,
): void {
  client.subscribe(
    { query, variables },
    {
      next: (value) => done({ kind: 'next', value: value as FormattedExecutionResult }),
      error: (error) =>
        done({ kind: 'error', errors: Array.isArray(error) ? (error as GraphQLFormattedError[]) : [{ message: String(error) }] }),
      complete: () => undefined,
    },
  );
}
