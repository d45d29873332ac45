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

let embedded: EmbeddedPostgresHandle | undefined;

/**
 * One throwaway PostgreSQL for the whole run, with a migrated template database that every test file
 * clones (CREATE DATABASE .. TEMPLATE), so files run in parallel, isolated, without re-migrating.
 */
export async function setup(project: TestProject): Promise<void> {
  await sweepStaleDirectories();
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'warn', pretty: false, name: 'test-postgres' });
  const dataDir = await mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  embedded = await startEmbeddedPostgres({ dataDir, logger, durable: false });
  const admin = new pg.Client({ connectionString: embedded.adminUrl });
  await admin.connect();
  await admin.query(`create database ${TEMPLATE_DATABASE}`);
  await admin.end();

  const url = embedded.urlFor(TEMPLATE_DATABASE);
  const orm = await createOrm(url);
  const pool = createPool(url, logger, 4);
  await migrate({ orm, pool }, logger);
  await orm.close(true);
  await pool.end();

  project.provide('pgAdminUrl', embedded.adminUrl);
  project.provide('pgTemplate', TEMPLATE_DATABASE);
  project.provide('pgDataDir', dataDir);
}

export async function teardown(): Promise<void> {
  const dataDir = embedded?.dataDir;
  await embedded?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
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
