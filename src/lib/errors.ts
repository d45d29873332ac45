/**
 * The one vocabulary of client-facing errors. Each code is stable (clients branch on it) and listed in
 * docs/errors.md; the message says what to fix.
 */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  INVALID_URL: 'INVALID_URL',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  IDEMPOTENCY_KEY_REUSED: 'IDEMPOTENCY_KEY_REUSED',
  ENDPOINT_DISABLED: 'ENDPOINT_DISABLED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  /** A customer portal session past its expiry: the host page must create a new one (HTTP 401). */
  PORTAL_SESSION_EXPIRED: 'PORTAL_SESSION_EXPIRED',
  /** A customer portal session ended by revokePortalSessions (HTTP 401). */
  PORTAL_SESSION_REVOKED: 'PORTAL_SESSION_REVOKED',
  RATE_LIMITED: 'RATE_LIMITED',
  SUBSCRIBER_TOO_SLOW: 'SUBSCRIBER_TOO_SLOW',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  QUERY_TOO_LARGE: 'QUERY_TOO_LARGE',
  /** The database is unreachable or restarting: not the request's fault, retry it (HTTP 503 with Retry-After). */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class HeraldError extends Error {
  override name = 'HeraldError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export const badInput = (message: string, details?: Record<string, unknown>) => new HeraldError(ErrorCode.BAD_USER_INPUT, message, details);

export const notFound = (kind: string, id: string) => new HeraldError(ErrorCode.NOT_FOUND, `No ${kind} with id "${id}" exists.`, { id });

/** Only for operations whose target is not tenant data (existence of another tenant's ids is never told). */
export const forbidden = (message: string) => new HeraldError(ErrorCode.FORBIDDEN, message);
