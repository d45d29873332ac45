import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RequestContext, type RequestContextParts } from '../../src/graphql/context';
import { createOrm } from '../../src/db/orm';
import { createLogger } from '../../src/lib/logger';
import type { Principal } from '../../src/modules/api-keys/principal';
import { createTestDatabase } from '../helpers/database';

/** Apollo Server's copy of each request's context (cloneObject in @apollo/server's ApolloServer.js). */
function copyAsApolloDoes<T extends object>(context: T): T {
  return Object.assign(Object.create(Object.getPrototypeOf(context) as object) as T, context);
}

describe('RequestContext: the entity manager and the logger are made on first use', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', pretty: false, destination: { write: (line: string) => void lines.push(line) } });
  const principal = { keyId: 'key_context_test', applicationId: null } as unknown as Principal;

  beforeAll(async () => {
    database = await createTestDatabase();
    orm = await createOrm(database.url, logger, 2);
  });
  afterAll(async () => {
    await orm?.close(true);
    await database?.drop();
  });

  const contextWith = () =>
    new RequestContext({ orm, baseLogger: logger, requestId: 'req-1', principal } as unknown as RequestContextParts);

  it("Apollo's copy of the context forks no entity manager and makes no logger; the copy makes its own once, on first use", async () => {
    const fork = vi.spyOn(orm.em, 'fork');
    const child = vi.spyOn(logger, 'child');
    try {
      const context = contextWith();
      const copy = copyAsApolloDoes(context);
      expect(fork).not.toHaveBeenCalled();
      expect(child).not.toHaveBeenCalled();
      expect(copy.requestId).toBe('req-1');

      const em = copy.em;
      expect(em).not.toBe(orm.em);
      expect(copy.em).toBe(em);
      expect(fork).toHaveBeenCalledTimes(1);
      const rows = await em.getConnection().execute<{ one: number }[]>('select 1 as one');
      expect(rows[0]!.one).toBe(1);

      copy.logger.info('from the request');
      expect(copy.logger).toBe(copy.logger);
      expect(child).toHaveBeenCalledTimes(1);
      expect(JSON.parse(lines.at(-1)!)).toMatchObject({ requestId: 'req-1', apiKey: 'key_context_test', msg: 'from the request' });

      // The original is untouched by the copy's use, and makes its own.
      expect(context.em).not.toBe(em);
      expect(fork).toHaveBeenCalledTimes(2);
    } finally {
      fork.mockRestore();
      child.mockRestore();
    }
  });
});
