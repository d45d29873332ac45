import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import {
  SECRET_PREFIX,
  constantTimeEqual,
  generateSecret,
  isValidSecret,
  legacyHexSignature,
  secretKeyBytes,
  standardSignature,
} from '../../src/delivery/signature';

// The official Standard Webhooks test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const secretOf = (bytes: number) => SECRET_PREFIX + randomBytes(bytes).toString('base64');

describe('standardSignature', () => {
  it('matches the Standard Webhooks test vector', () => {
    expect(standardSignature(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('agrees with the standardwebhooks package for random secrets, ids and unicode bodies', () => {
    for (let i = 0; i < 20; i++) {
      const secret = generateSecret();
      const id = `evt_${randomBytes(8).toString('hex')}`;
      const timestamp = 1_700_000_000 + i;
      const body = JSON.stringify({ i, text: 'héllo ✓ 🚀', nested: { a: [1, 2, 3] } });
      const theirs = new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
      expect(standardSignature(secret, id, timestamp, body)).toBe(theirs);
    }
  });

  it('changes when any signed part changes', () => {
    const base = standardSignature(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body);
    expect(standardSignature(VECTOR.secret, 'msg_other', VECTOR.timestamp, VECTOR.body)).not.toBe(base);
    expect(standardSignature(VECTOR.secret, VECTOR.id, VECTOR.timestamp + 1, VECTOR.body)).not.toBe(base);
    expect(standardSignature(VECTOR.secret, VECTOR.id, VECTOR.timestamp, `${VECTOR.body} `)).not.toBe(base);
    expect(standardSignature(generateSecret(), VECTOR.id, VECTOR.timestamp, VECTOR.body)).not.toBe(base);
  });

  it('has the v1,<base64 of 32 bytes> shape', () => {
    const signature = standardSignature(generateSecret(), 'evt_1', 1, '{}');
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(signature.slice(3), 'base64')).toHaveLength(32);
  });

  it('refuses a secret that is not a whsec_ secret', () => {
    expect(() => standardSignature('not-a-secret', 'evt_1', 1, '{}')).toThrow(/whsec_/);
    expect(() => standardSignature('whsec_', 'evt_1', 1, '{}')).toThrow();
  });
});

describe('legacyHexSignature', () => {
  it('is the hex HMAC-SHA256 of the body keyed with the full secret string', () => {
    const secret = generateSecret();
    const body = '{"id":"evt_1","data":{"amount":12.50,"name":"Zoë"}}';
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(body, 'utf8')).digest('hex');
    expect(legacyHexSignature(secret, body)).toBe(expected);
    expect(legacyHexSignature(secret, body)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is keyed with the whole string, prefix included, not the decoded key bytes', () => {
    const secret = VECTOR.secret;
    const decodedKey = secretKeyBytes(secret)!;
    expect(legacyHexSignature(secret, VECTOR.body)).not.toBe(createHmac('sha256', decodedKey).update(VECTOR.body).digest('hex'));
  });
});

describe('generateSecret / secretKeyBytes / isValidSecret', () => {
  it('generates distinct whsec_ secrets with 32 key bytes', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => generateSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret.startsWith('whsec_')).toBe(true);
      expect(isValidSecret(secret)).toBe(true);
      expect(secretKeyBytes(secret)).toHaveLength(32);
    }
  });

  it('decodes the key bytes of the test-vector secret', () => {
    expect(secretKeyBytes(VECTOR.secret)).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
  });

  it('accepts 24 to 64 key bytes and refuses fewer or more', () => {
    expect(isValidSecret(secretOf(23))).toBe(false);
    expect(isValidSecret(secretOf(24))).toBe(true);
    expect(isValidSecret(secretOf(64))).toBe(true);
    expect(isValidSecret(secretOf(65))).toBe(false);
  });

  it('refuses secrets without the prefix, with a wrong prefix case, or with non-base64 text', () => {
    const encoded = randomBytes(32).toString('base64');
    expect(isValidSecret(encoded)).toBe(false);
    expect(isValidSecret(`WHSEC_${encoded}`)).toBe(false);
    expect(isValidSecret('whsec_')).toBe(false);
    expect(isValidSecret(`whsec_${encoded.slice(0, 20)}!@#$${encoded.slice(20)}`)).toBe(false);
    expect(isValidSecret(`whsec_${randomBytes(32).toString('base64url').replace(/[-_]/g, '')}-_`)).toBe(false);
    expect(isValidSecret(`whsec_ ${encoded}`)).toBe(false);
    expect(isValidSecret(`whsec_${encoded}\n`)).toBe(false);
    expect(secretKeyBytes('')).toBeUndefined();
  });
});

describe('constantTimeEqual', () => {
  it('compares strings by value', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('abc', 'abd')).toBe(false);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('abcd', 'abc')).toBe(false);
    expect(constantTimeEqual('é', 'e')).toBe(false);
  });
});
