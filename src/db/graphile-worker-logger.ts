import { Logger as WorkerLogger } from 'graphile-worker';
import type { Logger } from '../lib/logger';
import { isDatabaseUnavailable } from './database-errors';

/**
 * graphile-worker 0.17 warns at every start when its pool has fewer connections than job slots ("maxPoolSize (64)
 * smaller than concurrency (128)") or its local queue takes fewer jobs per fetch ("job batch size (64) is smaller than
 * your concurrency setting"). Both assume each job slot runs a statement of its own all the time; Herald's sizing is
 * deliberate and the worker says why instead (src/worker/worker-sizing.ts).
 */
const SIZING_ADVICE = /maxPoolSize \(\d+\) smaller than concurrency|job batch size \(\d+\) is smaller than your concurrency/;

export function isGraphileWorkerSizingAdvice(message: string): boolean {
  return SIZING_ADVICE.test(message);
}

/** graphile-worker's logging through Herald's logger, for the worker and for the job queue's migrations. */
export function workerLogger(logger: Logger): WorkerLogger {
  /** When each kind of outage line was last written. */
  const outageLines = new Map<string, number>();
  return new WorkerLogger((scope) => (level, message, meta) => {
    // Herald's pool and local queue are smaller than its concurrency on purpose; startWorker says why, once.
    if (isGraphileWorkerSizingAdvice(message)) return;
    let method: 'error' | 'warn' | 'debug' | 'trace' =
      level === 'error' ? 'error' : level === 'warning' ? 'warn' : level === 'info' ? 'debug' : 'trace';
    let text = message;
    // While the database is away graphile-worker reports each failed poll and reconnect (several a second): an
    // outage is one warning of each kind per 10 s, saying what it is.
    if (method === 'error' && isDatabaseUnavailable(meta?.error ?? meta?.err)) {
      const kind = message.replace(/\d+/g, '#').slice(0, 60);
      const now = Date.now();
      if (now - (outageLines.get(kind) ?? 0) < 10_000) return;
      outageLines.set(kind, now);
      method = 'warn';
      text = `database unavailable: ${message}`;
    }
    // graphile-worker logs several lines per job: a child logger only for a line that will be written.
    if (!logger.isLevelEnabled(method)) return;
    const log = logger.child({ component: 'graphile-worker', ...(scope.taskIdentifier ? { task: scope.taskIdentifier } : {}) });
    log[method](meta ?? {}, text);
  });
}
