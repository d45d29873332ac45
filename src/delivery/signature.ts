import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, sign, timingSafeEqual } from 'node:crypto';

/** Standard Webhooks symmetric secrets: `whsec_` + base64 of 24 to 64 random bytes. */
export const SECRET_PREFIX = 'whsec_';
const SECRET_BYTES = 32;

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** Returns the HMAC key bytes of a `whsec_` secret, or undefined when it is not one. */
export function secretKeyBytes(secret: string): Buffer | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length < 24 || bytes.length > 64) return undefined;
  return bytes;
}

export function isValidSecret(secret: string): boolean {
  return secretKeyBytes(secret) !== undefined;
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, as Standard Webhooks 1.0 specifies. */
export function standardSignature(secret: string, messageId: string, timestampSeconds: number, body: string): string {
  const key = secretKeyBytes(secret);
  if (!key) throw new Error('not a whsec_ secret');
  const mac = createHmac('sha256', key).update(`${messageId}.${timestampSeconds}.`).update(body).digest('base64');
  return `v1,${mac}`;
}

/**
 * The seed design's `X-Webhook-Signature`: hex HMAC-SHA256 of the exact body bytes, keyed with the
 * secret string exactly as Herald returned it (so the seed's receiver code verifies it unchanged).
 */
export function legacyHexSignature(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Standard Webhooks asymmetric keys: `whsk_` + base64(seed ‖ public key), `whpk_` + base64(public key). */
export const SIGNING_KEY_PREFIX = 'whsk_';
export const PUBLIC_KEY_PREFIX = 'whpk_';

export function generateSigningKeyPair(): { signingKey: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d!, 'base64url');
  const publicKey = Buffer.from(jwk.x!, 'base64url');
  return {
    signingKey: SIGNING_KEY_PREFIX + Buffer.concat([seed, publicKey]).toString('base64'),
    publicKey: PUBLIC_KEY_PREFIX + publicKey.toString('base64'),
  };
}

/** `v1a,<base64 ed25519 signature of "id.timestamp.body">`, as Standard Webhooks 1.0 specifies. */
export function asymmetricSignature(signingKey: string, messageId: string, timestampSeconds: number, body: string): string {
  if (!signingKey.startsWith(SIGNING_KEY_PREFIX)) throw new Error('not a whsk_ signing key');
  const bytes = Buffer.from(signingKey.slice(SIGNING_KEY_PREFIX.length), 'base64');
  if (bytes.length !== 64) throw new Error('a whsk_ signing key holds 64 bytes');
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: bytes.subarray(0, 32).toString('base64url'), x: bytes.subarray(32).toString('base64url') },
    format: 'jwk',
  });
  return `v1a,${sign(null, Buffer.from(`${messageId}.${timestampSeconds}.${body}`), key).toString('base64')}`;
}
