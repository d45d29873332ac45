/**
 * Whether an error means the database cannot be reached or cannot serve right now (refused, reset or dropped
 * connections, SQLSTATE class 08, 57P01-57P03: shut down, crashed, starting up): a fault of ours that passes, not of
 * the request. Pure: no driver or ORM imports.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (isUnstorableTextError(error)) return false;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (code.startsWith('08') || code.startsWith('57P') || NETWORK_CODES.has(code))) return true;
  return typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message);
}

/**
 * PostgreSQL cannot store U+0000: in a text parameter it refuses the whole message (08P01, "invalid message format",
 * class 08 but no connection fault), in json/jsonb the escape (22P05). The input is at fault, not the server.
 */
export function isUnstorableTextError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  return code === '22P05' || (code === '08P01' && error.message.includes('invalid message format'));
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection (?:ended|closed|timeout)|terminating connection|ECONNREFUSED|ECONNRESET|the database system is (?:starting up|shutting down|in recovery mode)|shutting down|not currently accepting connections|encountered a connection error|timeout exceeded when trying to connect/i;

/** Serialization failure and deadlock: the transaction was rolled back and may simply run again. */
const RETRYABLE_TRANSACTION_CODES = new Set(['40001', '40P01']);

/**
 * Worth running the same work again after a short wait: the database is unavailable, the transaction lost a deadlock
 * or a serialization check, or knex's pool had no connection to give in time (the delivery executor's test).
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (typeof code === 'string' && RETRYABLE_TRANSACTION_CODES.has(code)) ||
    (typeof message === 'string' && /Timeout acquiring a connection/.test(message))
  );
}

/**
 * A database error as a log line may show it: its code and message only. pg-pool hangs the whole client (connection
 * parameters, password included) on the errors of idle connections, which a logger would print in full.
 */
export function databaseErrorSummary(error: unknown): { code?: string; message: string } {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), message: typeof message === 'string' ? message : String(error) };
}
