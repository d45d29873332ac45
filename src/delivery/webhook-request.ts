import { asymmetricSignature, legacyHexSignature, standardSignature } from './signature';

export const USER_AGENT = 'Herald-Webhooks/0.1 (+https://github.com/herald-webhooks/herald)';

export interface EnvelopeInput {
  eventId: string;
  eventType: string;
  version: string;
  /** The event's data exactly as published, already serialised as JSON. */
  dataJson: string;
  createdAt: Date;
  attempt: number;
  retryable: boolean;
}

/**
 * The body every delivery carries: the seed design's envelope, byte for byte the same shape
 * ({ id, timestamp, event, version, data, attempt, retryable }). Built by concatenation so `data` keeps
 * the publisher's exact JSON (key order, number spelling) instead of a re-serialised copy.
 */
export function buildEnvelope(input: EnvelopeInput): string {
  return (
    `{"id":${JSON.stringify(input.eventId)},"timestamp":${JSON.stringify(input.createdAt.toISOString())},` +
    `"event":${JSON.stringify(input.eventType)},"version":${JSON.stringify(input.version)},` +
    `"data":${input.dataJson},"attempt":${input.attempt},"retryable":${input.retryable}}`
  );
}

/** Headers whose values never go to logs or to the stored delivery log. */
const SENSITIVE_HEADER = /authorization|cookie|signature|secret|token|api[-_]?key|password/i;

/** Header names an endpoint's custom headers may not override: Herald owns them. */
export const RESERVED_HEADER = /^(content-type|content-length|host|user-agent|transfer-encoding|connection|webhook-.*|x-webhook-.*)$/i;

export interface SignedRequest {
  headers: Record<string, string>;
  /** The same headers with every sensitive value replaced, safe to store and show. */
  redactedHeaders: Record<string, string>;
}

export function buildSignedHeaders(options: {
  eventId: string;
  body: string;
  attempt: number;
  /** The newest secret: it alone keys `x-webhook-signature`. */
  secret: string;
  /** Older secrets still in their rotation grace period: each adds a `v1,` signature. */
  previousSecrets?: string[];
  /** An ed25519 `whsk_` key: adds a `v1a,` signature. */
  signingKey?: string | null;
  timestampSeconds: number;
  customHeaders: Record<string, string>;
  /** Position in a FIFO ordering group, so receivers can detect gaps; omitted for unordered deliveries. */
  sequence?: number | null;
}): SignedRequest {
  const signatures = [options.secret, ...(options.previousSecrets ?? [])].map((secret) =>
    standardSignature(secret, options.eventId, options.timestampSeconds, options.body),
  );
  if (options.signingKey) signatures.push(asymmetricSignature(options.signingKey, options.eventId, options.timestampSeconds, options.body));
  const headers: Record<string, string> = {
    ...options.customHeaders,
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': options.eventId,
    'webhook-timestamp': String(options.timestampSeconds),
    // Standard Webhooks: several signatures are space-separated; a receiver accepts any one it can verify.
    'webhook-signature': signatures.join(' '),
    'x-webhook-id': options.eventId,
    'x-webhook-attempt': String(options.attempt),
    'x-webhook-signature': legacyHexSignature(options.secret, options.body),
    ...(options.sequence != null ? { 'webhook-sequence': String(options.sequence) } : {}),
  };
  return { headers, redactedHeaders: redactHeaders(headers) };
}

export function redactHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, SENSITIVE_HEADER.test(name) ? '[redacted]' : value]));
}
