import { databaseErrorSummary, isTransientDatabaseError } from './database-errors';
import type { Logger } from '../lib/logger';

/**
 * Whether an unhandled rejection is a database outage: the error itself, or every error an AggregateError gathers
 * (graphile-worker's shutdown and local-queue errors), is transient by isTransientDatabaseError.
 */
export function isDatabaseOutageRejection(reason: unknown): boolean {
  if (reason instanceof AggregateError && reason.errors.length > 0) return reason.errors.every(isDatabaseOutageRejection);
  return isTransientDatabaseError(reason);
}

/**
 * graphile-worker 0.17.3 can reject a background promise (completing or failing a job) nobody awaits while the
 * database restarts; crashing then would drop every in-flight delivery, and the job stays locked by this live worker
 * until the heartbeat sweeper unlocks it. Such a rejection is logged and carried on from. Any other one is a bug:
 * logged as fatal, then `stopOnBug` stops the process (or thread), which exits 1.
 */
export function handleUnhandledRejections(logger: Logger, stopOnBug: () => void): void {
  process.on('unhandledRejection', unhandledRejectionHandler(logger, stopOnBug));
}

/** What handleUnhandledRejections does with each rejection (its own function for the unit tests). */
export function unhandledRejectionHandler(logger: Logger, stopOnBug: () => void): (reason: unknown) => void {
  return (reason) => {
    if (isDatabaseOutageRejection(reason)) {
      logger.warn({ error: databaseErrorSummary(reason) }, 'unhandled rejection during a database outage; carrying on');
      return;
    }
    logger.fatal({ err: reason }, 'unhandled rejection: a bug; Herald stops');
    stopOnBug();
  };
}
