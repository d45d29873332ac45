import { test } from 'vitest';
import { createTestDatabase } from './database';
import { type TestHerald, startTestHerald } from './herald';

type HeraldOptions = NonNullable<Parameters<typeof startTestHerald>[1]>;

/**
 * `test` with a fresh database and an in-process Herald on it, made for the first test of a file that uses them and
 * shared by the file's other tests; Herald stops and the database is dropped after the file. `options` (or a function
 * of the database URL, for settings built from it) are passed to startTestHerald.
 */
export function heraldTestWith(options: HeraldOptions | ((databaseUrl: string) => HeraldOptions) = {}) {
  return (
    test
      // eslint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern: none.
      .extend('database', { scope: 'file' }, async ({}, { onCleanup }) => {
        const database = await createTestDatabase();
        onCleanup(() => database.drop());
        return database;
      })
      .extend('herald', { scope: 'file' }, async ({ database }, { onCleanup }): Promise<TestHerald> => {
        const herald = await startTestHerald(database.url, typeof options === 'function' ? options(database.url) : options);
        onCleanup(() => herald.stop());
        return herald;
      })
  );
}

/** The common case: Herald with the test defaults (API and worker). */
export const heraldTest = heraldTestWith();
