import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { databaseErrorSummary, isDatabaseUnavailable, isTransactionConflict, isUnstorableTextError } from '../db/database-errors';
import { ErrorCode, HeraldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { redactCredentials } from '../lib/redaction';
import { HERALD_CODE_EXTENSION } from './query-limits';

/** Details a client may act on, kept from an error's extensions (everything else is dropped). */
const PUBLIC_EXTENSIONS = ['field', 'id', 'limit', 'bytes', 'depth', 'cost', 'retryAfterSeconds'];

/** Retry-After, in seconds, when the database is unavailable: long enough for a restart to make progress. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/** SERVICE_UNAVAILABLE for an operation the database failed: no address, nothing internal, just what to do. */
export function databaseUnavailable(): HeraldError {
  return new HeraldError(
    ErrorCode.SERVICE_UNAVAILABLE,
    `Herald's database is unavailable right now: retry in ${DATABASE_RETRY_AFTER_SECONDS} s (a publish with an idempotency key is not duplicated by a retry).`,
    { retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS },
  );
}

/** The error a resolver, the context or a subscription threw, under graphql-js's and graphql-ws's wrapping. */
function underlyingError(error: unknown): unknown {
  let current = unwrapResolverError(error);
  while (current instanceof GraphQLError && current.originalError) current = current.originalError;
  return current;
}

/** The database could not be reached (connection refused, reset or terminated, shutting down, starting up). */
export function isDatabaseOutage(error: unknown): boolean {
  const cause = underlyingError(error);
  return !(cause instanceof HeraldError) && isDatabaseUnavailable(cause);
}

/**
 * The one line Herald logs for an operation refused with SERVICE_UNAVAILABLE: written where the operation ends
 * (context, Apollo plugin, graphql-ws hooks), not by the formatter, which sees each of its errors.
 */
export function logDatabaseUnavailable(logger: Logger, error: unknown, fields: Record<string, unknown> = {}): void {
  logger.error(
    { ...fields, error: databaseErrorSummary(underlyingError(error)) },
    'database unavailable: the operation was refused with SERVICE_UNAVAILABLE (retry later)',
  );
}

/**
 * Gives every error a stable `extensions.code`: Herald's own errors keep theirs, GraphQL's own
 * (validation, bad variables) keep the code Apollo gives them, and anything unexpected is logged once and
 * masked, so no stack trace, SQL or secret reaches a client.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof HeraldError) {
      return {
        message: original.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { ...original.details, code: original.code },
      };
    }
    const heraldCode = formatted.extensions?.[HERALD_CODE_EXTENSION];
    const code = typeof heraldCode === 'string' ? heraldCode : formatted.extensions?.code;
    if (typeof code === 'string' && code !== ErrorCode.INTERNAL_SERVER_ERROR) {
      const details = Object.fromEntries(
        PUBLIC_EXTENSIONS.filter((name) => formatted.extensions?.[name] !== undefined).map((name) => [name, formatted.extensions?.[name]]),
      );
      // Apollo prefixes errors thrown while building the context (authentication, rate limits).
      const message = redactCredentials(formatted.message.replace(/^Context creation failed: /, ''));
      return { ...formatted, message, extensions: { ...details, code } };
    }
    if (isDatabaseOutage(error)) {
      // Apollo wraps a context that failed as a pathless GraphQLError, which looked like bad input: it is not.
      const unavailable = databaseUnavailable();
      return {
        message: unavailable.message,
        locations: formatted.locations,
        path: formatted.path,
        extensions: { ...unavailable.details, code: unavailable.code },
      };
    }
    if (isTransactionConflict(underlyingError(error))) {
      // Ours, not the client's: a concurrent write won a deadlock or a serialization check, and nothing was written.
      return {
        message:
          'A concurrent change conflicted with this operation and nothing of it was written: retry it (a publish with an idempotency key is not duplicated by a retry).',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryAfterSeconds: 1 },
      };
    }
    if (isGraphQLInputError(original, formatted)) {
      return { ...formatted, extensions: { code: ErrorCode.BAD_USER_INPUT } };
    }
    if (isUnstorableTextError(original)) {
      return {
        message: 'A text value contains the NUL character (\\u0000), which cannot be stored: remove it and try again.',
        locations: formatted.locations,
        path: formatted.path,
        extensions: { code: ErrorCode.BAD_USER_INPUT },
      };
    }
    logger.error({ err: original, path: formatted.path }, 'unexpected error in a GraphQL operation');
    return {
      message: 'Internal server error: the problem was logged; try again, and report it if it persists.',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
    };
  };
}

/** Errors graphql-js raises for bad literals or variables before any resolver runs. */
function isGraphQLInputError(original: unknown, formatted: GraphQLFormattedError): boolean {
  if (original instanceof Error && original.name === 'GraphQLError' && !formatted.path) return true;
  return /^(Variable|Expected|Argument|Int cannot|Float cannot|String cannot|Boolean cannot|ID cannot|JSON|DateTime)/.test(
    formatted.message,
  );
}
