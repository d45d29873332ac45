import type { MikroORM } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SharedContext, createRequestContext } from '../../src/graphql/context';
import { createOrm } from '../../src/db/orm';
import { createLogger } from '../../src/lib/logger';
import { ApiKeyKind } from '../../src/modules/api-keys/api-key.entity';
import type { Principal } from '../../src/modules/api-keys/principal';
import { createTestDatabase } from '../helpers/database';

describe('createRequestContext: what a request runs with', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', pretty: false, destination: { write: (line: string) => void lines.push(line) } });
  const applicationKey: Principal = {
    keyId: 'key_context_test',
    name: 'context test',
    kind: ApiKeyKind.APPLICATION,
    applicationId: 'app_context',
  };
  const adminKey: Principal = { keyId: 'key_context_admin', name: 'context admin', kind: ApiKeyKind.ADMIN, applicationId: null };

  beforeAll(async () => {
    database = await createTestDatabase();
    orm = await createOrm(database.url, logger, 2);
  });
  afterAll(async () => {
    await orm?.close(true);
    await database?.drop();
  });

  /** Only the parts the context derives from; the services it passes through are checked by identity. */
  const shared = (): SharedContext => ({ orm, logger }) as unknown as SharedContext;

  it('has its own entity manager fork, which reaches the database', async () => {
    const context = createRequestContext(shared(), 'req-1', applicationKey);
    const other = createRequestContext(shared(), 'req-2', applicationKey);
    expect(context.em).not.toBe(orm.em);
    expect(context.em).not.toBe(other.em);
    const rows = await context.em.getConnection().execute<{ one: number }[]>('select 1 as one');
    expect(rows[0]!.one).toBe(1);
  });

  it("logs through the process's logger: a request's line names its request id and key itself", () => {
    const context = createRequestContext(shared(), 'req-1', applicationKey);
    expect(context.logger).toBe(logger);
    // What the one request-scoped line (a database outage, see database-outage.test.ts) writes.
    context.logger.info({ requestId: context.requestId, apiKey: context.principal.keyId }, 'from the request');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ requestId: 'req-1', apiKey: 'key_context_test', msg: 'from the request' });
  });

  it("carries the request id, the principal, the key's scope and the shared services", () => {
    const services = { ...shared(), pubSub: { marker: 'pubSub' }, eventWriter: { marker: 'eventWriter' } } as unknown as SharedContext;
    const context = createRequestContext(services, 'req-3', applicationKey);
    expect(context.requestId).toBe('req-3');
    expect(context.principal).toBe(applicationKey);
    // The scope also says who acts and in which request: what the audit log records.
    expect(context.scope).toEqual({
      applicationId: 'app_context',
      actor: { kind: 'APPLICATION', id: 'key_context_test' },
      requestId: 'req-3',
    });
    expect(context.pubSub).toBe(services.pubSub);
    expect(context.eventWriter).toBe(services.eventWriter);
    expect(createRequestContext(services, 'req-4', adminKey).scope).toEqual({
      applicationId: null,
      actor: { kind: 'ADMIN', id: 'key_context_admin' },
      requestId: 'req-4',
    });
  });
});
