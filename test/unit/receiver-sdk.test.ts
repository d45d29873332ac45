import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { MemoryDedupeStore, WebhookVerificationError, WebhookVerifier, signWebhook, verifyWebhook } from '../../src/sdk';

// The Standard Webhooks specification's published test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const vectorHeaders = { 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature };
const atVectorTime = () => VECTOR.timestamp;

function codeOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).code;
  }
  throw new Error('expected a WebhookVerificationError');
}

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

describe('receiver SDK: verifyWebhook', () => {
  it('accepts the specification vector and returns the parsed payload', () => {
    const webhook = verifyWebhook(VECTOR.body, vectorHeaders, { secrets: VECTOR.secret, now: atVectorTime });
    expect(webhook).toMatchObject({ id: VECTOR.id, payload: { test: 2432232314 }, rawBody: VECTOR.body });
    expect(webhook.timestamp.toISOString()).toBe('2021-02-25T15:02:10.000Z');
  });

  it('rejects the vector with a tampered body, id, timestamp or signature', () => {
    const options = { secrets: VECTOR.secret, now: atVectorTime };
    expect(codeOf(() => verifyWebhook('{"test": 2432232315}', vectorHeaders, options))).toBe('NO_MATCHING_SIGNATURE');
    expect(codeOf(() => verifyWebhook(VECTOR.body, { ...vectorHeaders, 'webhook-id': 'msg_other' }, options))).toBe(
      'NO_MATCHING_SIGNATURE',
    );
    expect(codeOf(() => verifyWebhook(VECTOR.body, { ...vectorHeaders, 'webhook-timestamp': '1614265331' }, options))).toBe(
      'NO_MATCHING_SIGNATURE',
    );
    expect(codeOf(() => verifyWebhook(VECTOR.body, { ...vectorHeaders, 'webhook-signature': 'v1,AAAA' }, options))).toBe(
      'NO_MATCHING_SIGNATURE',
    );
    expect(codeOf(() => verifyWebhook(VECTOR.body, vectorHeaders, { secrets: newSecret(), now: atVectorTime }))).toBe(
      'NO_MATCHING_SIGNATURE',
    );
  });

  it('accepts any of several secrets and any of several signatures (rotation)', () => {
    const headers = { ...vectorHeaders, 'webhook-signature': `v1,bm90IGl0 ${VECTOR.signature} v2,ignored` };
    const webhook = verifyWebhook(Buffer.from(VECTOR.body), headers, { secrets: [newSecret(), VECTOR.secret], now: atVectorTime });
    expect(webhook.id).toBe(VECTOR.id);
  });

  it('enforces a 5-minute tolerance by default, and a configured one', () => {
    const options = { secrets: VECTOR.secret };
    expect(codeOf(() => verifyWebhook(VECTOR.body, vectorHeaders, { ...options, now: () => VECTOR.timestamp + 301 }))).toBe(
      'TIMESTAMP_TOO_OLD',
    );
    expect(codeOf(() => verifyWebhook(VECTOR.body, vectorHeaders, { ...options, now: () => VECTOR.timestamp - 301 }))).toBe(
      'TIMESTAMP_TOO_NEW',
    );
    expect(verifyWebhook(VECTOR.body, vectorHeaders, { ...options, now: () => VECTOR.timestamp + 299 }).id).toBe(VECTOR.id);
    const strict = { ...options, toleranceSeconds: 10 };
    expect(codeOf(() => verifyWebhook(VECTOR.body, vectorHeaders, { ...strict, now: () => VECTOR.timestamp + 11 }))).toBe(
      'TIMESTAMP_TOO_OLD',
    );
    expect(verifyWebhook(VECTOR.body, vectorHeaders, { ...strict, now: () => VECTOR.timestamp + 9 }).id).toBe(VECTOR.id);
  });

  it('refuses an already-parsed body with a message explaining raw bodies', () => {
    try {
      verifyWebhook(JSON.parse(VECTOR.body), vectorHeaders, { secrets: VECTOR.secret, now: atVectorTime });
      throw new Error('expected a refusal');
    } catch (error) {
      expect((error as WebhookVerificationError).code).toBe('NOT_RAW_BODY');
      expect((error as Error).message).toMatch(/raw request body/);
      expect((error as Error).message).toMatch(/express\.raw/);
    }
  });

  it('names a missing header', () => {
    const { 'webhook-id': _omitted, ...rest } = vectorHeaders;
    expect(() => verifyWebhook(VECTOR.body, rest, { secrets: VECTOR.secret, now: atVectorTime })).toThrow(/webhook-id header is missing/);
  });

  it('verifies what the independent standardwebhooks package signs', () => {
    for (let i = 0; i < 20; i++) {
      const secret = newSecret();
      const body = JSON.stringify({ i, text: 'héllo ✓', nested: { n: Math.random() } });
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const timestamp = new Date();
      const signature = new Webhook(secret).sign(id, timestamp, body);
      const headers = {
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      };
      expect(verifyWebhook(body, headers, { secrets: secret }).payload).toEqual(JSON.parse(body));
    }
  });

  it('signs what the standardwebhooks package verifies (vice versa)', () => {
    const secret = newSecret();
    const body = JSON.stringify({ order: 'ORD-1', amount: 10.5 });
    const headers = signWebhook({ secret, body });
    expect(new Webhook(secret).verify(body, headers)).toEqual({ order: 'ORD-1', amount: 10.5 });
    expect(() => new Webhook(secret).verify(body.replace('10.5', '10.6'), headers)).toThrow();
  });

  it('verifies v1a (ed25519) signatures with whpk_ public keys', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    const body = '{"hello":"ed25519"}';
    const id = 'msg_ed';
    const ts = Math.floor(Date.now() / 1000);
    const signature = sign(null, Buffer.from(`${id}.${ts}.${body}`), privateKey).toString('base64');
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': `v1a,${signature}` };
    expect(verifyWebhook(body, headers, { publicKeys: [`whpk_${raw.toString('base64')}`] }).payload).toEqual({ hello: 'ed25519' });
    expect(codeOf(() => verifyWebhook(body.replace('ed', 'ED'), headers, { publicKeys: [`whpk_${raw.toString('base64')}`] }))).toBe(
      'NO_MATCHING_SIGNATURE',
    );
    // A v1a signature is not accepted by an HMAC-only verifier, and vice versa.
    expect(codeOf(() => verifyWebhook(body, headers, { secrets: newSecret() }))).toBe('NO_MATCHING_SIGNATURE');
  });

  it('refuses to be built without a secret or key', () => {
    expect(() => new WebhookVerifier({})).toThrow(/at least one secret/);
    expect(() => new WebhookVerifier({ secrets: 'not base64!' })).toThrow(/whsec_/);
  });
});

describe('receiver SDK: MemoryDedupeStore', () => {
  it('claims an id once until it expires or is released', () => {
    let now = 1_000_000;
    const store = new MemoryDedupeStore(() => now);
    expect(store.claim('msg_1', 60)).toBe(true);
    expect(store.claim('msg_1', 60)).toBe(false);
    store.release('msg_1');
    expect(store.claim('msg_1', 60)).toBe(true);
    now += 61_000;
    expect(store.claim('msg_1', 60)).toBe(true);
  });
});
