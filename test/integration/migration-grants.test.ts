import { randomBytes } from 'node:crypto';
import type { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Migration20261130300000_sql_publish_ordering } from '../../migrations/Migration20261130300000_sql_publish_ordering';
import { createOrm } from '../../src/db/orm';
import { createTestDatabase } from '../helpers/database';

const FIVE_ARGUMENTS = 'herald.publish_event(text, json, text, text, text)';
const SIX_ARGUMENTS = 'herald.publish_event(text, json, text, text, text, text)';

/**
 * The migration that gave herald.publish_event its ordering_key argument replaces the function (a new signature is a
 * new function). The EXECUTE grants an operator gave producers on the old one must carry over, and a PUBLIC the
 * operator revoked must not come back, in both directions.
 */
describe('Migration20261130300000_sql_publish_ordering: keeps the grants on herald.publish_event', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let orm: MikroORM;
  let client: pg.Client;
  // Roles belong to the whole cluster: a name of its own, dropped at the end.
  const producer = `test_producer_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    orm = await createOrm(database.url);
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(`create role ${producer} nologin`);
  });
  afterAll(async () => {
    await client?.end();
    await orm?.close(true);
    await database?.drop();
    const admin = new pg.Client({ connectionString: new URL('/postgres', database.url).toString() });
    await admin.connect();
    await admin.query(`drop role if exists ${producer}`);
    await admin.end();
  });

  async function migrate(direction: 'up' | 'down'): Promise<void> {
    const migration = new Migration20261130300000_sql_publish_ordering(orm.em.getDriver(), orm.config);
    await migration[direction]();
    await client.query('begin');
    for (const statement of migration.getQueries()) await client.query(String(statement));
    await client.query('commit');
  }

  async function privileges(signature: string): Promise<{ producer: boolean; everyone: boolean }> {
    const { rows } = await client.query<{ producer: boolean; everyone: boolean }>(
      `select has_function_privilege($1, to_regprocedure($2), 'execute') as producer,
              coalesce(proacl is null or exists (select 1 from aclexplode(proacl) e where e.grantee = 0), false) as everyone
         from pg_proc where oid = to_regprocedure($2)`,
      [producer, signature],
    );
    if (rows.length === 0) throw new Error(`${signature} does not exist`);
    return rows[0]!;
  }

  it('a function with the default privileges keeps them (PUBLIC may execute it)', async () => {
    expect(await privileges(SIX_ARGUMENTS)).toEqual({ producer: true, everyone: true });
    await migrate('down');
    expect(await privileges(FIVE_ARGUMENTS)).toEqual({ producer: true, everyone: true });
    await migrate('up');
    expect(await privileges(SIX_ARGUMENTS)).toEqual({ producer: true, everyone: true });
  });

  it('a grant to one role carries over both ways, and PUBLIC stays revoked', async () => {
    await migrate('down');
    await client.query(`revoke all on function ${FIVE_ARGUMENTS} from public`);
    await client.query(`grant execute on function ${FIVE_ARGUMENTS} to ${producer}`);
    await migrate('up');
    expect(await privileges(SIX_ARGUMENTS)).toEqual({ producer: true, everyone: false });

    await migrate('down');
    expect(await privileges(FIVE_ARGUMENTS)).toEqual({ producer: true, everyone: false });
    await migrate('up');
    expect(await privileges(SIX_ARGUMENTS)).toEqual({ producer: true, everyone: false });
  });
});
