import { type KeyObject, createHmac, createPublicKey, timingSafeEqual, verify as verifySignature } from 'node:crypto';

/**
 * Verifies Herald deliveries (and any Standard Webhooks sender) from the raw body and the headers. `v1` is
 * HMAC-SHA256 with a `whsec_` secret, `v1a` is ed25519 with a `whpk_` public key. The receiver SDK exports it;
 * inbound sources verify STANDARD_WEBHOOKS senders with it.
 */

export type WebhookErrorCode =
  | 'NOT_RAW_BODY'
  | 'MISSING_HEADER'
  | 'INVALID_TIMESTAMP'
  | 'TIMESTAMP_TOO_OLD'
  | 'TIMESTAMP_TOO_NEW'
  | 'NO_MATCHING_SIGNATURE'
  | 'INVALID_JSON'
  | 'INVALID_OPTIONS';

export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
  constructor(
    readonly code: WebhookErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface VerifyOptions {
  /** One `whsec_` secret, or several while rotating: a signature by any of them is accepted. */
  secrets?: string | readonly string[];
  /** `whpk_` ed25519 public keys (or KeyObjects) for `v1a` signatures. */
  publicKeys?: ReadonlyArray<string | KeyObject>;
  /** How far the `webhook-timestamp` may be from now, either way (default 300 s, the spec's 5 minutes). */
  toleranceSeconds?: number;
  /** Seconds since the epoch; injectable for tests. */
  now?: () => number;
}

export interface VerifiedWebhook<T = unknown> {
  /** `webhook-id`: the same for every retry of one message, so it is the dedupe key. */
  id: string;
  timestamp: Date;
  /** The body parsed as JSON, after the signature was checked. */
  payload: T;
  /** The body exactly as received. */
  rawBody: string;
}

export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;
const SECRET_PREFIX = 'whsec_';
const PUBLIC_KEY_PREFIX = 'whpk_';
/** DER header of an ed25519 SubjectPublicKeyInfo; the 32 raw key bytes follow it. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const RAW_BODY_HELP =
  'Pass the raw request body (a string or Buffer, exactly the bytes received), not a parsed object: ' +
  're-serialising JSON changes key order, spacing and number spelling, so the signature can no longer be checked. ' +
  'In express, mount express.raw({ type: "application/json" }) on the webhook route (or use webhookMiddleware, which reads the body itself).';

export class WebhookVerifier {
  private readonly hmacKeys: Buffer[];
  private readonly publicKeys: KeyObject[];
  private readonly toleranceSeconds: number;
  private readonly now: () => number;

  constructor(options: VerifyOptions) {
    const secrets = typeof options.secrets === 'string' ? [options.secrets] : [...(options.secrets ?? [])];
    this.hmacKeys = secrets.map(secretBytes);
    this.publicKeys = (options.publicKeys ?? []).map(publicKeyObject);
    if (this.hmacKeys.length === 0 && this.publicKeys.length === 0) {
      throw new WebhookVerificationError(
        'INVALID_OPTIONS',
        'Give at least one secret (whsec_...) or public key (whpk_...) to verify with.',
      );
    }
    this.toleranceSeconds = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
    if (!(this.toleranceSeconds >= 0)) throw new WebhookVerificationError('INVALID_OPTIONS', 'toleranceSeconds must be 0 or more.');
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  /** Checks headers, timestamp and signature; returns the parsed payload or throws WebhookVerificationError. */
  verify<T = unknown>(body: unknown, headers: HeaderSource): VerifiedWebhook<T> {
    const rawBody = rawBodyText(body);
    const id = header(headers, 'webhook-id');
    const timestampText = header(headers, 'webhook-timestamp');
    const signatures = header(headers, 'webhook-signature');
    if (!/^\d{1,12}$/.test(timestampText)) {
      throw new WebhookVerificationError(
        'INVALID_TIMESTAMP',
        `webhook-timestamp must be whole seconds since the epoch, got "${timestampText.slice(0, 40)}".`,
      );
    }
    const timestamp = Number(timestampText);
    const now = this.now();
    if (timestamp < now - this.toleranceSeconds) {
      throw new WebhookVerificationError(
        'TIMESTAMP_TOO_OLD',
        `The message is ${Math.round(now - timestamp)} s old; at most ${this.toleranceSeconds} s are accepted (a replay?).`,
      );
    }
    if (timestamp > now + this.toleranceSeconds) {
      throw new WebhookVerificationError(
        'TIMESTAMP_TOO_NEW',
        `The message is timestamped ${Math.round(timestamp - now)} s in the future; check the clocks.`,
      );
    }
    const signedContent = Buffer.from(`${id}.${timestampText}.${rawBody}`, 'utf8');
    if (!this.matchesAny(signatures, signedContent)) {
      throw new WebhookVerificationError(
        'NO_MATCHING_SIGNATURE',
        'No signature in webhook-signature matches any of the configured secrets or keys.',
      );
    }
    let payload: T;
    try {
      payload = JSON.parse(rawBody) as T;
    } catch {
      throw new WebhookVerificationError('INVALID_JSON', 'The body is correctly signed but is not JSON.');
    }
    return { id, timestamp: new Date(timestamp * 1000), payload, rawBody };
  }

  private matchesAny(signatureHeader: string, signedContent: Buffer): boolean {
    let matched = false;
    // Every candidate is checked (no early return), so timing does not reveal which one matched.
    for (const candidate of signatureHeader.split(' ')) {
      const comma = candidate.indexOf(',');
      if (comma < 0) continue;
      const version = candidate.slice(0, comma);
      const signature = Buffer.from(candidate.slice(comma + 1), 'base64');
      if (version === 'v1') {
        for (const key of this.hmacKeys) {
          const expected = createHmac('sha256', key).update(signedContent).digest();
          if (signature.length === expected.length && timingSafeEqual(signature, expected)) matched = true;
        }
      } else if (version === 'v1a') {
        for (const key of this.publicKeys) {
          if (signature.length === 64 && verifySignature(null, signedContent, key, signature)) matched = true;
        }
      }
    }
    return matched;
  }
}

/** One-shot form of `new WebhookVerifier(options).verify(body, headers)`. */
export function verifyWebhook<T = unknown>(body: unknown, headers: HeaderSource, options: VerifyOptions): VerifiedWebhook<T> {
  return new WebhookVerifier(options).verify<T>(body, headers);
}

function rawBodyText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body).toString('utf8');
  throw new WebhookVerificationError('NOT_RAW_BODY', `${RAW_BODY_HELP} Got ${body === null ? 'null' : typeof body}.`);
}

function header(headers: HeaderSource, name: string): string {
  // Svix-compatible senders use `svix-` instead of `webhook-`; the scheme is the same.
  const alias = name.replace(/^webhook-/, 'svix-');
  const read = (key: string): string | undefined => {
    if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(key) ?? undefined;
    const record = headers as Record<string, string | string[] | undefined>;
    const value = record[key] ?? Object.entries(record).find(([k]) => k.toLowerCase() === key)?.[1];
    return Array.isArray(value) ? value.join(' ') : value;
  };
  const value = read(name) ?? read(alias);
  if (!value) throw new WebhookVerificationError('MISSING_HEADER', `The ${name} header is missing: is this a Standard Webhooks delivery?`);
  return value;
}

function secretBytes(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length < 16 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new WebhookVerificationError(
      'INVALID_OPTIONS',
      'A secret must be "whsec_" followed by base64 (as the endpoint registration returned it).',
    );
  }
  return bytes;
}

function publicKeyObject(key: string | KeyObject): KeyObject {
  if (typeof key !== 'string') return key;
  const raw = Buffer.from(key.startsWith(PUBLIC_KEY_PREFIX) ? key.slice(PUBLIC_KEY_PREFIX.length) : key, 'base64');
  if (raw.length !== 32)
    throw new WebhookVerificationError(
      'INVALID_OPTIONS',
      'A v1a public key must be "whpk_" followed by the base64 of 32 ed25519 key bytes.',
    );
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}
