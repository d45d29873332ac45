import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, endPool } from '../../src/db/database';
import { createLogger } from '../../src/lib/logger';
import { createTestDatabase } from '../helpers/database';

/**
 * Closing the pool before stopping the embedded PostgreSQL: the server must find no connection of ours still open,
 * or it terminates them (57P01) and each logs a warning on a clean stop.
 */
describe('endPool', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('resolves only once every connection of the pool has closed', async () => {
    const pool = createPool(database.url, createLogger({ level: 'silent', pretty: false }), 4);
    const ended: pg.Client[] = [];
    const connected: pg.Client[] = [];
    pool.on('connect', (client) => {
      connected.push(client);
      client.once('end', () => ended.push(client));
    });
    const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    await Promise.all(clients.map((client) => client.query('select 1')));
    for (const client of clients) client.release();

    await endPool(pool);

    expect(connected).toHaveLength(3);
    expect(ended).toHaveLength(3);
  });
});
