import { Migration } from '@mikro-orm/migrations';
import {
  DELIVER_JOB as PREVIOUS_DELIVER_JOB,
  FAN_OUT_EVENTS as PREVIOUS_FAN_OUT_EVENTS,
  IDS as PREVIOUS_IDS,
} from './Migration20261207000000_lean_publish';

/**
 * The fan-out's per-delivery work in PostgreSQL, cut.
 *
 * - `herald.fan_out_events` writes each first attempt's job as a `graphile_worker.job_spec` row (task `deliver`, the
 *   delivery id and attempt 1 as payload, job key `deliver:<id>`, 25 attempts, no priority or flags: the engine's
 *   `deliverJob` for a first attempt, which test/integration/fan-out.test.ts holds it to). It built each as JSON
 *   (`herald.deliver_job`) and parsed it back with json_populate_record: about 5 µs of PostgreSQL CPU per delivery.
 *   `herald.deliver_job`, used nowhere else, is dropped.
 * - `herald.id_random` reads its argument once, so PostgreSQL inlines it even where the argument is a call of
 *   gen_random_uuid(): a SQL function that is not inlined runs through its own executor, its body parsed and planned
 *   again in each statement that calls it.
 *
 * Results are unchanged; CREATE OR REPLACE keeps every grant.
 */
export class Migration20261207500000_publish_job_rows extends Migration {
  override async up(): Promise<void> {
    this.addSql(ID_RANDOM);
    this.addSql(FAN_OUT_EVENTS);
    this.addSql('drop function if exists herald.deliver_job(text, integer, timestamptz);');
  }

  override async down(): Promise<void> {
    this.addSql(PREVIOUS_DELIVER_JOB);
    this.addSql(PREVIOUS_IDS);
    this.addSql(PREVIOUS_FAN_OUT_EVENTS);
  }
}

const ID_RANDOM = `
-- Of a v4 UUID's 16 bytes, 7 to 10 carry its version and variant (and two random bytes): 1-6 and 11-16 are random.
create or replace function herald.id_random(uuid_bytes bytea) returns text
language sql immutable parallel safe as $$
  select translate(encode(overlay(uuid_bytes placing '' from 7 for 4), 'base64'),
                   'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
                   '0123456789abcdefghjkmnpqrstvwxyz0123456789abcdefghjkmnpqrstvwxyz')
$$;
`;

/** herald.fan_out_events as it was, but for one expression: each first attempt's job built as a row. */
export const FAN_OUT_EVENTS = replacedOnce(
  PREVIOUS_FAN_OUT_EVENTS,
  'select json_populate_record(null::graphile_worker.job_spec, herald.deliver_job(p.delivery_id, 1, p.due))',
  `select row('deliver', json_build_object('deliveryId', p.delivery_id, 'attempt', 1), null, p.due, 25,
                        'deliver:' || p.delivery_id, null, null)::graphile_worker.job_spec`,
);

/** `text` with its one occurrence of `from` replaced; a text without exactly one is a mistake here, not SQL to run. */
export function replacedOnce(text: string, from: string, to: string): string {
  const parts = text.split(from);
  if (parts.length !== 2) throw new Error(`expected one occurrence of ${JSON.stringify(from)}, found ${parts.length - 1}`);
  return parts.join(to);
}
