import { Migration } from '@mikro-orm/migrations';
import { DELIVER_JOB as PREVIOUS_DELIVER_JOB, IDS as PREVIOUS_IDS } from './Migration20261207000000_lean_publish';

/**
 * The fan-out's two SQL helpers, written so that PostgreSQL inlines them. A SQL function that is not inlined runs
 * through its own executor on every call, its body parsed and planned again in each statement that calls it.
 *
 * - `herald.deliver_job` is STABLE, as json_build_object is (a timestamptz's JSON depends on TimeZone): declared
 *   IMMUTABLE, it was never inlined, and cost each delivery of a publish about 10 µs of PostgreSQL CPU.
 * - `herald.id_random` reads its argument once, so a call with gen_random_uuid() in it is inlined too.
 *
 * Results are unchanged; CREATE OR REPLACE keeps every grant.
 */
export class Migration20261207500000_inlined_publish_helpers extends Migration {
  override async up(): Promise<void> {
    this.addSql(DELIVER_JOB);
    this.addSql(ID_RANDOM);
  }

  override async down(): Promise<void> {
    this.addSql(PREVIOUS_DELIVER_JOB);
    this.addSql(PREVIOUS_IDS);
  }
}

const DELIVER_JOB = `
create or replace function herald.deliver_job(delivery_id text, attempt integer, run_at timestamptz default null)
returns json
language sql stable parallel safe as $$
  select json_build_object('identifier', 'deliver', 'payload', json_build_object('deliveryId', delivery_id, 'attempt', attempt),
                           'queue_name', null, 'run_at', run_at, 'max_attempts', 25, 'job_key', 'deliver:' || delivery_id,
                           'priority', null, 'flags', null)
$$;
`;

const ID_RANDOM = `
-- Of a v4 UUID's 16 bytes, 7 to 10 carry its version and variant (and two random bytes): 1-6 and 11-16 are random.
create or replace function herald.id_random(uuid_bytes bytea) returns text
language sql immutable parallel safe as $$
  select translate(encode(overlay(uuid_bytes placing '' from 7 for 4), 'base64'),
                   'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
                   '0123456789abcdefghjkmnpqrstvwxyz0123456789abcdefghjkmnpqrstvwxyz')
$$;
`;
