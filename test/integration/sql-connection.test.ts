import { describe, expect, test } from 'vitest';
import { createOrm } from '../../src/db/orm';
import { execute } from '../../src/db/sql';
import { createTestDatabase, query } from '../helpers/database';

const ORM_POOL_SIZE = 2;

/** A migrated database with a scratch table, and an ORM with a small pool on it, for the file. */
const it = test
  // eslint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this pattern: none.
  .extend('database', { scope: 'file' }, async ({}, { onCleanup }) => {
    const database = await createTestDatabase();
    onCleanup(() => database.drop());
    await query(database.url, 'create table execute_probe (id text primary key)');
    return database;
  })
  .extend('orm', { scope: 'file' }, async ({ database }, { onCleanup }) => {
    const orm = await createOrm(database.url, undefined, ORM_POOL_SIZE);
    onCleanup(() => orm.close(true));
    return orm;
  });

/**
 * `execute` (src/db/sql.ts) takes its pg connection from knex's internals, with the knex and MikroORM pinned in
 * package.json: in a transaction, the transaction's own connection; outside one, a connection of the pool, given back.
 */
describe('execute on an entity manager', () => {
  it("runs in the entity manager's transaction, on its connection", async ({ database, orm }) => {
    const rolledBack = new Error('roll back');
    await expect(
      orm.em.fork().transactional(async (tx) => {
        const [ours] = await execute<{ txid: string }>(tx, 'select txid_current()::text as txid');
        const [orms] = await tx
          .getConnection()
          .execute<{ txid: string }[]>('select txid_current()::text as txid', [], 'all', tx.getTransactionContext());
        expect(ours!.txid).toBe(orms!.txid);

        await execute(tx, 'insert into execute_probe (id) values (?)', ['in-transaction']);
        const seenByTransaction = await tx
          .getConnection()
          .execute<{ id: string }[]>(`select id from execute_probe where id = 'in-transaction'`, [], 'all', tx.getTransactionContext());
        expect(seenByTransaction).toEqual([{ id: 'in-transaction' }]);
        expect(await query(database.url, `select id from execute_probe where id = 'in-transaction'`)).toEqual([]);
        throw rolledBack;
      }),
    ).rejects.toBe(rolledBack);

    expect(await query(database.url, `select id from execute_probe where id = 'in-transaction'`)).toEqual([]);
  });

  it('outside a transaction, commits each statement alone and gives its connection back to the pool', async ({ database, orm }) => {
    const em = orm.em.fork();
    const txids = new Set<string>();
    // More statements than the pool has connections: one not given back would leave the next waiting for good.
    for (let n = 0; n < ORM_POOL_SIZE * 3; n++) {
      const [row] = await execute<{ txid: string }>(
        em,
        'insert into execute_probe (id) values (?) returning txid_current()::text as txid',
        [`alone-${n}`],
      );
      txids.add(row!.txid);
    }

    expect(txids.size).toBe(ORM_POOL_SIZE * 3);
    const committed = await query<{ n: number }>(database.url, `select count(*)::int as n from execute_probe where id like 'alone-%'`);
    expect(committed).toEqual([{ n: ORM_POOL_SIZE * 3 }]);
  });
});
