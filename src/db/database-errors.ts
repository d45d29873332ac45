import { retry } from '../lib/retry';

/**
 * Whether an error means the database cannot be reached or cannot serve right now (refused, reset or dropped
 * connections, SQLSTATE class 08, 57P01-57P03: shut down, crashed, starting up): a fault of ours that passes, not of
 * the request. Pure: no driver or ORM imports.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = codeAndMessage(error);
  if (code !== undefined) {
    if (UNSTORABLE_TEXT_CODES.has(code)) return false;
    if (code.startsWith('08') || code.startsWith('57P') || NETWORK_CODES.has(code)) return true;
  }
  return message !== undefined && databaseFailureToldOnlyInText(message) === 'unavailable';
}

/**
 * PostgreSQL cannot store U+0000: in a text parameter it refuses the whole message as a protocol violation (08P01,
 * class 08 but no connection fault; node-postgres sends nothing else that breaks the protocol), in json/jsonb the
 * escape (22P05). The input is at fault, not the server.
 */
export function isUnstorableTextError(error: unknown): boolean {
  const { code } = codeAndMessage(error);
  return code !== undefined && UNSTORABLE_TEXT_CODES.has(code);
}

const UNSTORABLE_TEXT_CODES = new Set(['08P01', '22P05']);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Serialization failure and deadlock: the transaction was rolled back and may simply run again. */
const RETRYABLE_TRANSACTION_CODES = new Set(['40001', '40P01']);

/** The transaction lost a deadlock or a serialization check: PostgreSQL rolled it back, and it may simply run again. */
export function isTransactionConflict(error: unknown): boolean {
  const { code } = codeAndMessage(error);
  return code !== undefined && RETRYABLE_TRANSACTION_CODES.has(code);
}

/**
 * Runs a unit of work (a statement outside any transaction, or a whole transaction) again when it lost a deadlock
 * or a serialization check, up to CONFLICT_ATTEMPTS times in all; any other error, or a conflict that persists, is
 * thrown. Never inside a transaction: after the conflict it is aborted and only the whole transaction can run again.
 */
export function rerunOnConflict<T>(work: () => Promise<T>): Promise<T> {
  return retry(work, { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: CONFLICT_ATTEMPTS, retryIf: isTransactionConflict });
}

const CONFLICT_ATTEMPTS = 4;

/**
 * Worth running the same work again after a short wait: the database is unavailable, the transaction lost a deadlock
 * or a serialization check, or knex's pool had no connection to give in time (the delivery executor's test).
 */
export function isTransientDatabaseError(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return true;
  const { code, message } = codeAndMessage(error);
  return (
    (code !== undefined && RETRYABLE_TRANSACTION_CODES.has(code)) ||
    (message !== undefined && databaseFailureToldOnlyInText(message) === 'pool_exhausted')
  );
}

/**
 * The database failures some libraries report with a message and no code: node-postgres ("Connection terminated
 * unexpectedly", "Client has encountered a connection error"), pg-pool's and knex's connect and acquire timeouts,
 * graphile-worker quoting a network error in its own message, and PostgreSQL's generic 55000 for a database that
 * refuses connections. The only place Herald reads an error's text to classify it; each text is in
 * test/unit/database-unavailable.test.ts.
 */
export function databaseFailureToldOnlyInText(message: string): 'unavailable' | 'pool_exhausted' | null {
  if (UNAVAILABLE_TEXT.test(message)) return 'unavailable';
  if (POOL_EXHAUSTED_TEXT.test(message)) return 'pool_exhausted';
  return null;
}

const UNAVAILABLE_TEXT =
  /Connection terminated|connection (?:ended|closed|timeout)|terminating connection|ECONNREFUSED|ECONNRESET|the database system is (?:starting up|shutting down|in recovery mode)|shutting down|not currently accepting connections|encountered a connection error|timeout exceeded when trying to connect/i;

const POOL_EXHAUSTED_TEXT = /Timeout acquiring a connection/;

function codeAndMessage(error: unknown): { code?: string; message?: string } {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
}

/**
 * A database error as a log line may show it: its code and message only. pg-pool hangs the whole client (connection
 * parameters, password included) on the errors of idle connections, which a logger would print in full.
 */
export function databaseErrorSummary(error: unknown): { code?: string; message: string } {
  const { code, message } = codeAndMessage(error);
  return { ...(code !== undefined ? { code } : {}), message: message ?? String(error) };
}
