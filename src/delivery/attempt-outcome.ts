/** Why an attempt failed; `null` on success. Stored with every attempt and exposed in GraphQL. */
export const AttemptErrorKind = {
  TIMEOUT: 'TIMEOUT',
  DNS: 'DNS',
  CONNECT: 'CONNECT',
  RESET: 'RESET',
  TLS: 'TLS',
  HTTP_STATUS: 'HTTP_STATUS',
  BLOCKED: 'BLOCKED',
  INVALID_RESPONSE: 'INVALID_RESPONSE',
} as const;
export type AttemptErrorKind = (typeof AttemptErrorKind)[keyof typeof AttemptErrorKind];

export interface AttemptOutcome {
  ok: boolean;
  statusCode: number | null;
  responseBody: string | null;
  responseBodyTruncated: boolean;
  durationMs: number;
  errorKind: AttemptErrorKind | null;
  errorMessage: string | null;
  /** The response's Retry-After header, when it had one. */
  retryAfter?: string | null;
}

/** 2xx succeeds; every other status is a failed attempt, redirects included (they are never followed). */
export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}

const TLS_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

interface ErrorLike {
  name?: string;
  /** Usually a string, but a DOMException's `code` is a number (AbortError is 20). */
  code?: unknown;
  message?: string;
  cause?: unknown;
}

function errorChain(error: unknown): ErrorLike[] {
  const chain: ErrorLike[] = [];
  let current: unknown = error;
  while (current && typeof current === 'object' && chain.length < 8) {
    chain.push(current as ErrorLike);
    current = (current as ErrorLike).cause;
  }
  return chain;
}

/** Maps a network-level failure (undici, DNS, TLS, abort) to the kind recorded on the attempt. */
export function classifyNetworkError(error: unknown): { kind: AttemptErrorKind; message: string } {
  const chain = errorChain(error);
  const codes = chain.map((e) => e.code).filter((code): code is string => typeof code === 'string' && code !== '');
  const names = chain.map((e) => e.name ?? '');
  const message = chain.map((e) => e.message).find((m) => m) ?? String(error);
  const has = (predicate: (code: string) => boolean) => codes.some(predicate);

  if (has((c) => c === 'ERR_HERALD_BLOCKED')) {
    return { kind: AttemptErrorKind.BLOCKED, message: chain.find((e) => e.code === 'ERR_HERALD_BLOCKED')?.message ?? message };
  }

  if (names.includes('TimeoutError') || has((c) => c.startsWith('UND_ERR_') && c.includes('TIMEOUT')) || has((c) => c === 'ETIMEDOUT')) {
    return { kind: AttemptErrorKind.TIMEOUT, message: 'The endpoint did not answer within the delivery timeout.' };
  }
  if (has((c) => c === 'ENOTFOUND' || c === 'EAI_AGAIN' || c === 'EAI_NONAME' || c === 'EAI_FAIL')) {
    return { kind: AttemptErrorKind.DNS, message: `DNS lookup failed: ${message}` };
  }
  if (has((c) => TLS_CODES.has(c) || c.startsWith('ERR_TLS') || c.startsWith('ERR_SSL') || c.startsWith('CERT_'))) {
    return { kind: AttemptErrorKind.TLS, message: `TLS handshake failed: ${message}` };
  }
  if (has((c) => c === 'ECONNRESET' || c === 'EPIPE' || c === 'UND_ERR_SOCKET' || c === 'UND_ERR_CLOSED')) {
    return { kind: AttemptErrorKind.RESET, message: `The connection was closed before a complete response: ${message}` };
  }
  if (has((c) => ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ECONNABORTED'].includes(c))) {
    return { kind: AttemptErrorKind.CONNECT, message: `Could not connect: ${message}` };
  }
  // undici's HTTPParserError usually carries no code (it looks the llhttp error number up in a
  // name-to-number table), so recognise it by name as well.
  if (names.includes('HTTPParserError') || has((c) => c.startsWith('HPE_') || c === 'UND_ERR_INVALID_ARG')) {
    return { kind: AttemptErrorKind.INVALID_RESPONSE, message: `The endpoint sent an invalid HTTP response: ${message}` };
  }
  return { kind: AttemptErrorKind.CONNECT, message };
}
