import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations';
import { type HeraldProcess, spawnHerald } from '../helpers/cli';
import { createEmptyDatabase } from '../helpers/database';

/** Each run is a real process that connects and migrates: slow on a loaded 2-core machine. */
const SPAWN_TIMEOUT_MS = 120_000;

interface LogLine {
  msg: string;
  step?: number;
  steps?: number;
  migration?: string;
  durationMs?: number;
}

describe('`herald migrate` shows its progress', () => {
  const databases: Array<Awaited<ReturnType<typeof createEmptyDatabase>>> = [];
  const processes: HeraldProcess[] = [];
  let fresh: Awaited<ReturnType<typeof createEmptyDatabase>>;

  beforeAll(async () => {
    fresh = await createEmptyDatabase();
    databases.push(fresh);
  });
  afterAll(async () => {
    for (const process of processes) process.child.kill('SIGKILL');
    for (const database of databases) await database.drop();
  }, 60_000);

  async function run(env: Record<string, string>): Promise<HeraldProcess> {
    const migrate = spawnHerald('migrate', env);
    processes.push(migrate);
    expect(await migrate.exited).toEqual({ code: 0, signal: null });
    return migrate;
  }

  it(
    'on a fresh database: each migration as it starts and, with its time, as it ends, in order; JSON lines only',
    { timeout: SPAWN_TIMEOUT_MS },
    async () => {
      const migrate = await run({ DATABASE_URL: fresh.url });
      // LOG_PRETTY=false: every line stays one JSON object.
      const lines = migrate.output.map((line) => JSON.parse(line) as LogLine);
      const progress = lines.filter((line) => line.step !== undefined);
      const steps = migrations.length + 1;
      const expected = [
        ...migrations.flatMap((migration, index) => [
          { step: index + 1, steps, migration: migration.name, msg: `migrating ${index + 1}/${steps}: ${migration.name}` },
          {
            step: index + 1,
            steps,
            migration: migration.name,
            msg: new RegExp(`^migrated ${index + 1}/${steps}: ${migration.name} in \\d+ ms$`),
          },
        ]),
        { step: steps, steps, msg: `migrating ${steps}/${steps}: graphile-worker's job queue schema` },
        { step: steps, steps, msg: new RegExp(`^migrated ${steps}/${steps}: graphile-worker's job queue schema in \\d+ ms$`) },
      ];
      expect(progress).toHaveLength(expected.length);
      progress.forEach((line, index) => expect(line).toMatchObject(expected[index]!));
      for (const done of progress.filter((line) => line.msg.startsWith('migrated'))) {
        expect(done.durationMs).toBeGreaterThanOrEqual(0);
        expect(done.msg).toContain(`in ${done.durationMs} ms`);
      }
      expect(lines.at(-1)?.msg).toBe('migrations applied');

      // Nothing left to do: no progress, one line saying so.
      const again = await run({ DATABASE_URL: fresh.url });
      const againLines = again.output.map((line) => JSON.parse(line) as LogLine);
      expect(againLines.filter((line) => line.step !== undefined)).toEqual([]);
      expect(againLines.some((line) => line.msg === 'database already up to date')).toBe(true);
    },
  );

  it('with LOG_PRETTY=true a terminal reads the same progress as plain text', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    const database = await createEmptyDatabase();
    databases.push(database);
    const migrate = await run({ DATABASE_URL: database.url, LOG_PRETTY: 'true' });
    // eslint-disable-next-line no-control-regex
    const text = migrate.output.map((line) => line.replace(/\u001b\[[0-9;]*m/g, ''));
    const steps = migrations.length + 1;
    const first = migrations[0]!.name;
    expect(text.some((line) => line.includes(`migrating 1/${steps}: ${first}`))).toBe(true);
    expect(text.some((line) => new RegExp(`migrated 1/${steps}: ${first} in \\d+ ms`).test(line))).toBe(true);
    expect(text.some((line) => line.trimStart().startsWith('{'))).toBe(false);
  });
});
