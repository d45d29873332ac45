import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';

const loadedModules = () => Object.keys(createRequire(__filename).cache);

describe('what a running Herald holds', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let herald: TestHerald | undefined;
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it('does not load the migration machinery when the database is up to date (about 10 MB resident)', async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
    // MikroORM reads the package.json of every @mikro-orm package installed (a version check): code is what counts.
    const code = loadedModules().filter((file) => file.endsWith('.js'));
    expect(code.filter((file) => /[/\\]node_modules[/\\](@mikro-orm[/\\]migrations|umzug)[/\\]/.test(file))).toEqual([]);
    // The check itself sees the package's code when it is loaded.
    expect(code.some((file) => /[/\\]node_modules[/\\]@mikro-orm[/\\]core[/\\]/.test(file))).toBe(true);
  });
});
