import pg from 'pg';
import { describe, expect } from 'vitest';
import { CreateApplicationDocument, PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { query } from '../helpers/database';
import { heraldTest } from '../helpers/fixtures';
import { waitUntil } from '../helpers/herald';

/**
 * A publish that loses a deadlock to another transaction is rolled back by PostgreSQL; Herald runs it again, so the
 * caller gets its event (once), not an error. The deadlock is made on purpose: another session holds the FIFO group's
 * lock the publish needs, then waits for the application row the publish's foreign-key check holds.
 */
describe('a publish that loses a deadlock', { timeout: 60_000 }, () => {
  heraldTest('is run again and published once, instead of failing with an internal error', async ({ herald, database }) => {
    const applicationId = (await herald.call(CreateApplicationDocument, { input: { name: 'deadlocks' } })).createApplication.id;
    const endpointId = (
      await herald.call(RegisterEndpointDocument, { input: { applicationId, url: 'http://127.0.0.1:9/unused', eventTypes: ['ledger.*'] } })
    ).registerEndpoint.endpoint.id;

    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      // The publish, waiting second, finds the deadlock and is the one rolled back.
      await blocker.query(`set deadlock_timeout = '60s'`);
      await blocker.query('begin');
      await blocker.query(`select pg_advisory_xact_lock(hashtext('herald:order:' || $1))`, [`${endpointId}:k`]);

      const published = herald.request(PublishEventDocument, {
        input: { applicationId, type: 'ledger.posted', data: { n: 1 }, orderingKey: 'k', idempotencyKey: 'once' },
      });
      // The publish holds its key share on the application row and waits for the group's lock.
      await waitUntil(
        () => query<{ n: number }>(database.url, `select count(*)::int as n from pg_stat_activity where wait_event = 'advisory'`),
        (rows) => rows[0]!.n === 1,
        5000,
      );
      // Now the blocker waits for the publish: a deadlock, which PostgreSQL breaks by rolling the publish back.
      await blocker.query('select 1 from applications where id = $1 for update', [applicationId]);
      await blocker.query('commit');

      const result = await published;
      expect(result.errors).toBeUndefined();
      expect(result.data?.publishEvent.deliveries).toHaveLength(1);
      const events = await query<{ n: number }>(database.url, `select count(*)::int as n from events where idempotency_key = 'once'`);
      expect(events[0]!.n).toBe(1);
      expect(herald.logs.some((line) => line.includes('unexpected error'))).toBe(false);
    } finally {
      await blocker.end();
    }
  });
});
