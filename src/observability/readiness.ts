import type pg from 'pg';
import { unappliedMigrations } from '../db/database';

export interface ReadinessReport {
  ready: boolean;
  checks: { database: string; migrations: string; worker: string };
}

const CHECK_TIMEOUT_MS = 2000;

/**
 * What /readyz answers: the database answers within two seconds, every Herald migration and
 * graphile-worker's schema are applied, and the worker (when this process runs one) is running.
 */
export async function checkReadiness(pool: pg.Pool, worker: { running: boolean } | null): Promise<ReadinessReport> {
  const checks = { database: 'ok', migrations: 'ok', worker: worker ? (worker.running ? 'ok' : 'stopped') : 'not run by this process' };
  try {
    const [missing, worker] = await withTimeout(
      Promise.all([
        unappliedMigrations(pool),
        pool.query<{ schema: string | null }>(`select to_regclass('graphile_worker.migrations')::text as schema`),
      ]),
      CHECK_TIMEOUT_MS,
    );
    if (missing.length > 0) checks.migrations = `not applied: ${missing.join(', ')}`;
    else if (!worker.rows[0]?.schema) checks.migrations = "graphile-worker's schema is not installed";
  } catch (error) {
    checks.database = `unreachable: ${error instanceof Error ? error.message : String(error)}`;
    checks.migrations = 'unknown (database unreachable)';
  }
  const ready = checks.database === 'ok' && checks.migrations === 'ok' && (worker === null || worker.running);
  return { ready, checks };
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
