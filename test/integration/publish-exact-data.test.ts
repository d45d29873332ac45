import type { FormattedExecutionResult, GraphQLFormattedError } from 'graphql';
import { print } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  PublishEventDocument,
  PublishEventsDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { query } from '../helpers/database';
import { heraldTestWith } from '../helpers/fixtures';
import { type TestHerald, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const heraldFile = heraldTestWith({ config: { maxPayloadBytes: 2048 } });

/**
 * What a receiver gets in the envelope's `data`: `dataJson` byte for byte; `data` re-serialised, and refused when a
 * number in it could not be kept; and a request body that is not UTF-8 is refused instead of patched with U+FFFD.
 */
describe('publishing exact data: dataJson bytes, data integers, UTF-8 bodies', () => {
  let database: { url: string };
  let herald: TestHerald;
  let receiver: WebhookReceiver;

  heraldFile.beforeAll(async ({ database: fileDatabase, herald: fileHerald }) => {
    database = fileDatabase;
    herald = fileHerald;
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  async function applicationWithEndpoint(): Promise<string> {
    const { createApplication } = await herald.call(CreateApplicationDocument, { input: { name: 'exact data' } });
    await herald.call(RegisterEndpointDocument, { input: { url: receiver.url, applicationId: createApplication.id } });
    return createApplication.id;
  }

  async function post(
    body: string | Uint8Array,
    contentType = 'application/json',
  ): Promise<{ status: number; body: FormattedExecutionResult<Record<string, unknown>> }> {
    const response = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': contentType, authorization: `Bearer ${herald.adminKey}` },
      body,
    });
    return { status: response.status, body: (await response.json()) as FormattedExecutionResult<Record<string, unknown>> };
  }

  function onlyError(result: { body: FormattedExecutionResult<unknown> }, code: string): GraphQLFormattedError {
    expect(result.body.errors, JSON.stringify(result.body)).toHaveLength(1);
    const error = result.body.errors![0]!;
    expect(error.extensions?.code, JSON.stringify(error)).toBe(code);
    return error;
  }

  async function storedEvents(applicationId: string): Promise<number> {
    const [row] = await query<{ n: string }>(database.url, 'select count(*) as n from events where application_id = $1', [applicationId]);
    return Number(row!.n);
  }

  /** The body of the one delivery the receiver got for an event. */
  async function deliveredBody(eventId: string): Promise<string> {
    const request = await waitUntil(
      async () => receiver.requests.find((r) => r.headers['webhook-id'] === eventId),
      (found) => found !== undefined,
    );
    return request!.body;
  }

  it('delivers dataJson byte for byte inside the envelope (number spelling, key order, integer-like keys, big integers)', async () => {
    const applicationId = await applicationWithEndpoint();
    const exact = '{"b":1e3,"a":1.0,"2":0,"1":0}';
    const { publishEvent } = await herald.call(PublishEventDocument, {
      input: { type: 'metric.recorded', dataJson: exact, applicationId },
    });
    const body = await deliveredBody(publishEvent.id);
    expect(body).toContain(`"data":${exact},"attempt":1`);
    // The envelope around it is still JSON.
    expect(JSON.parse(body)).toMatchObject({ id: publishEvent.id, event: 'metric.recorded', data: { a: 1, b: 1000, 1: 0, 2: 0 } });

    // Whitespace, escapes, non-ASCII text and integers beyond 2^53 are kept too.
    const spaced = '{ "id": 12345678901234567890,\n  "name": "caf\\u00e9 é", "nested": {"z": -0.0, "list": [1E2, 2.50]} }';
    const second = await herald.call(PublishEventDocument, { input: { type: 'metric.recorded', dataJson: spaced, applicationId } });
    expect(await deliveredBody(second.publishEvent.id)).toContain(`"data":${spaced},"attempt":1`);
    const [row] = await query<{ payload: string }>(database.url, 'select payload from events where id = $1', [second.publishEvent.id]);
    expect(row!.payload).toBe(spaced);

    // The same value as `data` is re-serialised: that is what `data` promises, and no more.
    const viaData = await post(
      `{"query":${JSON.stringify(print(PublishEventDocument))},"variables":{"input":{"type":"metric.recorded","applicationId":"${applicationId}","data":${exact}}}}`,
    );
    const viaDataId = (viaData.body.data as { publishEvent: { id: string } }).publishEvent.id;
    expect(await deliveredBody(viaDataId)).toContain('"data":{"1":0,"2":0,"b":1000,"a":1},"attempt":1');
  });

  it('refuses an integer beyond 2^53 in data (it would arrive changed) and says to send dataJson', async () => {
    const applicationId = await applicationWithEndpoint();
    const mutation = print(PublishEventDocument);
    const asVariable = await post(
      `{"query":${JSON.stringify(mutation)},"variables":{"input":{"type":"order.created","applicationId":"${applicationId}","data":{"orderId":"O-1","lines":[{"sku":12345678901234567890}]}}}}`,
    );
    const error = onlyError(asVariable, 'BAD_USER_INPUT');
    expect(error.message).toMatch(/"data" has a number at data\.lines\[0\]\.sku that cannot be kept exactly/);
    expect(error.message).toMatch(/"dataJson"/);
    expect(error.extensions).toMatchObject({ field: 'data', path: 'data.lines[0].sku' });

    // Written in the query text itself, as a literal, it is refused alike.
    const literal = await post(
      JSON.stringify({
        query: `mutation { publishEvent(input: { type: "order.created", applicationId: "${applicationId}", data: { orderId: "O-1", n: -12345678901234567890 } }) { id } }`,
      }),
    );
    expect(onlyError(literal, 'BAD_USER_INPUT').extensions).toMatchObject({ field: 'data', path: 'data.n' });

    // In a batch, the input is named and nothing of the batch is written.
    const batch = await post(
      `{"query":${JSON.stringify(print(PublishEventsDocument))},"variables":{"inputs":[{"type":"order.created","applicationId":"${applicationId}","data":{"orderId":"O-2"}},{"type":"metric.recorded","applicationId":"${applicationId}","data":{"big":9007199254740993}}]}}`,
    );
    expect(onlyError(batch, 'BAD_USER_INPUT').message).toMatch(/^inputs\[1\]: "data" has a number at data\.big/);

    // The largest exact integers, and fractions, are fine.
    const fine = await post(
      `{"query":${JSON.stringify(mutation)},"variables":{"input":{"type":"metric.recorded","applicationId":"${applicationId}","data":{"max":9007199254740991,"min":-9007199254740991,"f":1234567890.123456789}}}}`,
    );
    expect(fine.body.errors, JSON.stringify(fine.body)).toBeUndefined();
    expect(await storedEvents(applicationId)).toBe(1);

    // The exact bytes go through dataJson.
    const exact = await herald.call(PublishEventDocument, {
      input: { type: 'order.created', applicationId, dataJson: '{"orderId":"O-1","lines":[{"sku":12345678901234567890}]}' },
    });
    expect(await deliveredBody(exact.publishEvent.id)).toContain('"data":{"orderId":"O-1","lines":[{"sku":12345678901234567890}]},');
  });

  it('refuses a request body that is not valid UTF-8 with 400 instead of storing U+FFFD', async () => {
    const applicationId = await applicationWithEndpoint();
    const before = Buffer.from(
      `{"query":${JSON.stringify(print(PublishEventDocument))},"variables":{"input":{"type":"order.created","applicationId":"${applicationId}","data":{"orderId":"O-`,
    );
    // A plain application/json POST takes Herald's direct route; one with another parameter goes through express.
    for (const contentType of ['application/json', 'application/json; profile=x']) {
      for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80] /* an encoded surrogate */, [0xe2, 0x82]]) {
        const result = await post(Buffer.concat([before, Buffer.from(bad), Buffer.from('"}}}}')]), contentType);
        expect(result.status, contentType).toBe(400);
        expect(onlyError(result, 'BAD_REQUEST').message).toBe('The request body is not valid UTF-8: send JSON encoded as UTF-8.');
      }
    }
    expect(await storedEvents(applicationId)).toBe(0);
    // Valid multi-byte UTF-8 is fine.
    const ok = await post(Buffer.concat([before, Buffer.from('é😀'), Buffer.from('"}}}}')]));
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    expect(await storedEvents(applicationId)).toBe(1);
  });

  it('takes exactly one of data and dataJson, and checks dataJson: JSON, one object, no key twice, size, catalog schema', async () => {
    const applicationId = await applicationWithEndpoint();
    const publish = (input: Record<string, unknown>) =>
      herald.request(PublishEventDocument, { input: { type: 'metric.recorded', applicationId, ...input } as never });

    const both = onlyError({ body: await publish({ data: { a: 1 }, dataJson: '{"a":1}' }) }, 'BAD_USER_INPUT');
    expect(both.message).toMatch(/Give exactly one of "data" .* and "dataJson" .*; this input has both\./);
    const neither = onlyError({ body: await publish({}) }, 'BAD_USER_INPUT');
    expect(neither.message).toMatch(/Give exactly one of "data" .* and "dataJson" .*; this input has neither\./);
    expect(neither.extensions?.fields).toEqual(['data', 'dataJson']);

    const cases: Array<[string, RegExp, Record<string, unknown>]> = [
      ['{"a":1,', /^"dataJson" is not valid JSON: /, { field: 'dataJson' }],
      ['[1,2]', /^"dataJson" must be the JSON text of one object/, { field: 'dataJson' }],
      ['"text"', /^"dataJson" must be the JSON text of one object/, { field: 'dataJson' }],
      ['{"a":1,"b":{"c":1,"c":2}}', /^"dataJson" has the key "c" twice in the object at dataJson\.b/, { path: 'dataJson.b' }],
      ['{"a":"\ud800"}', /^"dataJson" has an unpaired UTF-16 surrogate/, { field: 'dataJson' }],
    ];
    for (const [dataJson, message, extensions] of cases) {
      const error = onlyError({ body: await publish({ dataJson }) }, 'BAD_USER_INPUT');
      expect(error.message, dataJson).toMatch(message);
      expect(error.extensions).toMatchObject(extensions);
    }
    const tooLarge = onlyError({ body: await publish({ dataJson: `{"blob":"${'x'.repeat(3000)}"}` }) }, 'PAYLOAD_TOO_LARGE');
    expect(tooLarge.message).toMatch(/^"dataJson" is 3011 bytes; the limit is 2048 bytes/);
    expect(tooLarge.extensions).toMatchObject({ field: 'dataJson', bytes: 3011, limit: 2048 });

    // The catalog's schema checks the parsed value: order.created requires orderId.
    const schema = onlyError(
      { body: await herald.request(PublishEventDocument, { input: { type: 'order.created', applicationId, dataJson: '{"amount":1}' } }) },
      'BAD_USER_INPUT',
    );
    expect(schema.message).toMatch(/"data" does not match the schema of order\.created 1\.0: .*orderId/);
    expect(await storedEvents(applicationId)).toBe(0);
  });
});
