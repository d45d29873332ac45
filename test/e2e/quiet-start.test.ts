import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HeraldProcess, exitOf, spawnHerald } from '../helpers/cli';

/** `npm start` as a new user runs it: the defaults, a fresh data folder, the embedded PostgreSQL. */
describe('herald start with the defaults on a fresh data folder', () => {
  let dataDir: string;
  let herald: HeraldProcess | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-quiet-start-'));
  });
  afterAll(async () => {
    herald?.child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it('starts, and stops on SIGTERM, without one warning or error line', { timeout: 180_000 }, async () => {
    herald = spawnHerald('start', { DATABASE_URL: '', HERALD_DATA_DIR: dataDir, NODE_ENV: 'development' });
    const url = await herald.url;
    await herald.waitForLog(/"thread":"worker".*worker started/);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    herald.child.kill('SIGTERM');
    expect(await exitOf(herald)).toEqual({ code: 0, signal: null, unclean: [] });
    const loud = herald.output.filter((line) => {
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 40;
      } catch {
        return false;
      }
    });
    expect(loud).toEqual([]);
  });
});
