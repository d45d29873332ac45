import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { createPool, migrate } from '../../src/db/database';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { createOrm } from '../../src/db/orm';
import { createLogger } from '../../src/lib/logger';
import pg from 'pg';

export const TEMPLATE_DATABASE = 'herald_template';
const DIR_PREFIX = 'herald-test-pg-';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgTemplate: string;
    pgDataDir: string;
  }
}

interface SharedPostgres {
  started: Promise<EmbeddedPostgresHandle>;
  users: number;
}

// The integration and e2e projects each load this file in their own module runner, in the same process:
// the server lives on globalThis so that a run of both starts one PostgreSQL, stopped by its last user.
const SHARED_KEY = Symbol.for('herald.test.embeddedPostgres');
type WithSharedPostgres = typeof globalThis & { [SHARED_KEY]?: SharedPostgres };
const shared = globalThis as WithSharedPostgres;

/**
 * One throwaway PostgreSQL for the whole run, with a migrated template database that every test file
 * clones (CREATE DATABASE .. TEMPLATE), so files run in parallel, isolated, without re-migrating.
 */
export async function setup(project: TestProject): Promise<void> {
  const server = (shared[SHARED_KEY] ??= { started: startTemplatedPostgres(), users: 0 });
  server.users++;
  const embedded = await server.started;
  project.provide('pgAdminUrl', embedded.adminUrl);
  project.provide('pgTemplate', TEMPLATE_DATABASE);
  project.provide('pgDataDir', embedded.dataDir);
}

export async function teardown(): Promise<void> {
  const server = shared[SHARED_KEY];
  if (!server || --server.users > 0) return;
  delete shared[SHARED_KEY];
  // A server that failed to start was already stopped, and setup reported why.
  const embedded = await server.started.catch(() => null);
  if (embedded) await stopAndRemove(embedded);
}

async function startTemplatedPostgres(): Promise<EmbeddedPostgresHandle> {
  await sweepStaleDirectories();
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'warn', pretty: false, name: 'test-postgres' });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  const embedded = await startEmbeddedPostgres({ dataDir, logger, durable: false });
  try {
    const admin = new pg.Client({ connectionString: embedded.adminUrl });
    await admin.connect();
    await admin.query(`create database ${TEMPLATE_DATABASE}`);
    await admin.end();

    const url = embedded.urlFor(TEMPLATE_DATABASE);
    const orm = await createOrm(url);
    const pool = createPool(url, logger, 4);
    try {
      await migrate({ orm, pool }, logger);
    } finally {
      await orm.close(true);
      await pool.end();
    }
    return embedded;
  } catch (error) {
    // A failed migration fails the run; the server must not outlive it.
    await stopAndRemove(embedded);
    throw error;
  }
}

async function stopAndRemove(embedded: EmbeddedPostgresHandle): Promise<void> {
  await embedded.stop();
  await rm(embedded.dataDir, { recursive: true, force: true });
}

/** A crashed run can leave its data directory behind; remove ones older than an hour. */
async function sweepStaleDirectories(): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of await readdir(tmp).catch(() => [] as string[])) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const full = path.join(tmp, name);
    const info = await stat(full).catch(() => null);
    if (info && Date.now() - info.mtimeMs > 3_600_000) await rm(full, { recursive: true, force: true }).catch(() => undefined);
  }
}
