import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/db/embedded-postgres';
import { spawnHerald } from '../helpers/cli';

describe('herald CLI exit codes with the embedded database', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-exit-code-'));
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  // embedded-postgres pulls in async-exit-hook, whose `beforeExit` handler calls process.exit(0): it once
  // turned every failing command into a success. A failing command must fail, embedded database or not.
  it('a failing command exits non-zero after starting and stopping the embedded PostgreSQL', { timeout: 120_000 }, async () => {
    const revoke = spawnHerald('keys', { HERALD_DATA_DIR: dataDir, DATABASE_URL: '' }, ['revoke', 'hk_00000000']);
    const exit = await revoke.exited;
    expect(revoke.output.join('\n')).toMatch(/hk_00000000/);
    expect(exit).toEqual({ code: 2, signal: null });
  });

  it(
    'a worker whose database cannot be reached waits for it with backoff, saying so, then exits 1 naming the limit',
    { timeout: 60_000 },
    async () => {
      const port = await freePort();
      const worker = spawnHerald('worker', {
        DATABASE_URL: `postgres://herald:secret@127.0.0.1:${port}/herald`,
        DATABASE_STARTUP_WAIT_MS: '2000',
      });
      const exit = await worker.exited;
      const waits = worker.output.filter((line) => line.includes('waiting for the database'));
      expect(waits.length).toBeGreaterThanOrEqual(2);
      expect(JSON.parse(waits[1]!)).toMatchObject({ level: 40, attempt: 2, retryInMs: 500 });
      expect(worker.output.join('\n')).toMatch(/could not be reached within 2000 ms \(DATABASE_STARTUP_WAIT_MS\)/);
      expect(worker.output.join('\n')).not.toContain('secret');
      expect(exit).toEqual({ code: 1, signal: null });
    },
  );
});
