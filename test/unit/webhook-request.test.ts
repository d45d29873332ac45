import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret } from '../../src/delivery/signature';
import { RESERVED_HEADER, USER_AGENT, buildEnvelope, buildSignedHeaders, redactHeaders } from '../../src/delivery/webhook-request';

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('buildEnvelope', () => {
  const input = {
    eventId: 'evt_01hzzzzzzzzzzzzzzzzzzzzzzz',
    eventType: 'order.created',
    version: '2024-01-01',
    dataJson: '{"b":1,"a":1.50,"big":12345678901234567890}',
    createdAt: new Date('2024-03-04T05:06:07.089Z'),
    attempt: 3,
    retryable: true,
  };

  it('builds the seed envelope with fields in order', () => {
    expect(buildEnvelope(input)).toBe(
      '{"id":"evt_01hzzzzzzzzzzzzzzzzzzzzzzz","timestamp":"2024-03-04T05:06:07.089Z","event":"order.created",' +
        '"version":"2024-01-01","data":{"b":1,"a":1.50,"big":12345678901234567890},"attempt":3,"retryable":true}',
    );
  });

  it('is valid JSON with the expected values', () => {
    const parsed = JSON.parse(buildEnvelope({ ...input, retryable: false })) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['id', 'timestamp', 'event', 'version', 'data', 'attempt', 'retryable']);
    expect(parsed).toMatchObject({
      id: input.eventId,
      timestamp: '2024-03-04T05:06:07.089Z',
      event: 'order.created',
      version: '2024-01-01',
      attempt: 3,
      retryable: false,
    });
  });

  it("keeps the publisher's data bytes exactly (key order, number spelling, whitespace)", () => {
    const dataJson = '{ "z": 1.0, "a": [1e3, -0],\n "s": "é\\u00e9" }';
    const envelope = buildEnvelope({ ...input, dataJson });
    expect(envelope).toContain(`"data":${dataJson},"attempt"`);
    expect(() => JSON.parse(envelope) as unknown).not.toThrow();
  });

  it('accepts any JSON value as data', () => {
    for (const dataJson of ['null', '[]', '"text"', '42', 'true']) {
      expect((JSON.parse(buildEnvelope({ ...input, dataJson })) as { data: unknown }).data).toEqual(JSON.parse(dataJson));
    }
  });

  it('escapes strings that contain quotes, backslashes or control characters', () => {
    const envelope = buildEnvelope({ ...input, eventType: 'we"ird\\type', version: 'v\n1' });
    const parsed = JSON.parse(envelope) as { event: string; version: string };
    expect(parsed.event).toBe('we"ird\\type');
    expect(parsed.version).toBe('v\n1');
  });
});

describe('buildSignedHeaders', () => {
  const body = buildEnvelope({
    eventId: 'evt_abc',
    eventType: 'invoice.paid',
    version: '1',
    dataJson: '{"amount":1999,"currency":"EUR","note":"ünïcödé ✓"}',
    createdAt: new Date(),
    attempt: 2,
    retryable: true,
  });

  it('produces headers that the standardwebhooks package verifies', () => {
    const secret = generateSecret();
    const { headers } = buildSignedHeaders({
      eventId: 'evt_abc',
      body,
      attempt: 2,
      secret,
      timestampSeconds: nowSeconds(),
      customHeaders: {},
    });
    const verified = new Webhook(secret).verify(body, headers);
    expect(verified).toEqual(JSON.parse(body));
  });

  it('fails standardwebhooks verification for a tampered body or another secret', () => {
    const secret = generateSecret();
    const { headers } = buildSignedHeaders({
      eventId: 'evt_abc',
      body,
      attempt: 1,
      secret,
      timestampSeconds: nowSeconds(),
      customHeaders: {},
    });
    expect(() => new Webhook(secret).verify(body.replace('1999', '1998'), headers)).toThrow();
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_other' })).toThrow();
  });

  it('sets x-webhook-signature to the hex HMAC-SHA256 of the body keyed with the full secret string', () => {
    const secret = generateSecret();
    const { headers } = buildSignedHeaders({
      eventId: 'evt_abc',
      body,
      attempt: 1,
      secret,
      timestampSeconds: nowSeconds(),
      customHeaders: {},
    });
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(body, 'utf8')).digest('hex');
    expect(headers['x-webhook-signature']).toBe(expected);
  });

  it('sets every Herald header', () => {
    const secret = generateSecret();
    const { headers } = buildSignedHeaders({
      eventId: 'evt_abc',
      body,
      attempt: 4,
      secret,
      timestampSeconds: 1700000000,
      customHeaders: {},
    });
    expect(headers).toEqual({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': 'evt_abc',
      'webhook-timestamp': '1700000000',
      'webhook-signature': expect.stringMatching(/^v1,[A-Za-z0-9+/]{43}=$/),
      'x-webhook-id': 'evt_abc',
      'x-webhook-attempt': '4',
      'x-webhook-signature': expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('matches the Standard Webhooks test vector', () => {
    const { headers } = buildSignedHeaders({
      eventId: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      body: '{"test": 2432232314}',
      attempt: 1,
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      timestampSeconds: 1614265330,
      customHeaders: {},
    });
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('includes custom headers, but never lets them override the ones Herald owns', () => {
    const secret = generateSecret();
    const { headers } = buildSignedHeaders({
      eventId: 'evt_abc',
      body,
      attempt: 1,
      secret,
      timestampSeconds: nowSeconds(),
      customHeaders: {
        'x-tenant': 'acme',
        authorization: 'Bearer s3cr3t',
        'content-type': 'text/plain',
        'webhook-signature': 'v1,forged',
        'x-webhook-signature': 'forged',
        'user-agent': 'evil',
      },
    });
    expect(headers['x-tenant']).toBe('acme');
    expect(headers.authorization).toBe('Bearer s3cr3t');
    expect(headers['content-type']).toBe('application/json');
    expect(headers['user-agent']).toBe(USER_AGENT);
    expect(headers['webhook-signature']).not.toBe('v1,forged');
    expect(headers['x-webhook-signature']).not.toBe('forged');
    expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
  });

  it('redacts signatures and credentials in redactedHeaders but keeps the real values in headers', () => {
    const secret = generateSecret();
    const { headers, redactedHeaders } = buildSignedHeaders({
      eventId: 'evt_abc',
      body,
      attempt: 1,
      secret,
      timestampSeconds: 1700000000,
      customHeaders: { authorization: 'Bearer s3cr3t', 'x-tenant': 'acme' },
    });
    expect(redactedHeaders).toEqual({
      ...headers,
      authorization: '[redacted]',
      'webhook-signature': '[redacted]',
      'x-webhook-signature': '[redacted]',
    });
    expect(headers.authorization).toBe('Bearer s3cr3t');
    expect(JSON.stringify(redactedHeaders)).not.toContain(secret);
    expect(JSON.stringify(redactedHeaders)).not.toContain('s3cr3t');
  });

  it('refuses a secret that is not a whsec_ secret', () => {
    expect(() =>
      buildSignedHeaders({ eventId: 'evt_abc', body, attempt: 1, secret: 'plain', timestampSeconds: 1, customHeaders: {} }),
    ).toThrow();
  });
});

describe('redactHeaders', () => {
  it('redacts every sensitive header name, whatever its case', () => {
    const headers = {
      Authorization: 'Basic abc',
      'proxy-authorization': 'x',
      Cookie: 'a=b',
      'set-cookie': 'c=d',
      'X-Api-Key': 'k1',
      'x-api_key': 'k2',
      apikey: 'k3',
      'X-Auth-Token': 't',
      'x-client-secret': 's',
      'X-Password': 'p',
      'x-hub-signature-256': 'sig',
    };
    const redacted = redactHeaders(headers);
    for (const name of Object.keys(headers)) expect(redacted[name]).toBe('[redacted]');
  });

  it('keeps ordinary headers and does not modify its input', () => {
    const headers = { 'content-type': 'application/json', 'x-tenant': 'acme', authorization: 'Bearer x' };
    const copy = { ...headers };
    expect(redactHeaders(headers)).toEqual({ 'content-type': 'application/json', 'x-tenant': 'acme', authorization: '[redacted]' });
    expect(headers).toEqual(copy);
  });

  it('gives the same answer on repeated calls (no stateful regex)', () => {
    for (let i = 0; i < 5; i++)
      expect(redactHeaders({ authorization: 'x', Authorization: 'y' })).toEqual({
        authorization: '[redacted]',
        Authorization: '[redacted]',
      });
  });

  it('handles an empty object', () => {
    expect(redactHeaders({})).toEqual({});
  });
});

describe('RESERVED_HEADER', () => {
  it.each([
    'content-type',
    'Content-Type',
    'content-length',
    'host',
    'HOST',
    'user-agent',
    'transfer-encoding',
    'connection',
    'webhook-id',
    'webhook-signature',
    'Webhook-Timestamp',
    'x-webhook-signature',
    'X-Webhook-Attempt',
    'x-webhook-anything',
  ])('reserves %s', (name) => {
    expect(RESERVED_HEADER.test(name)).toBe(true);
  });

  it.each(['authorization', 'x-tenant', 'x-content-type', 'content-type-extra', 'my-webhook-id', 'x-webhooks-id', 'webhook'])(
    'allows %s',
    (name) => {
      expect(RESERVED_HEADER.test(name)).toBe(false);
    },
  );

  it('covers every header Herald sets', () => {
    const { headers } = buildSignedHeaders({
      eventId: 'evt_abc',
      body: '{}',
      attempt: 1,
      secret: generateSecret(),
      timestampSeconds: 1,
      customHeaders: {},
    });
    for (const name of Object.keys(headers)) expect(RESERVED_HEADER.test(name)).toBe(true);
  });
});
