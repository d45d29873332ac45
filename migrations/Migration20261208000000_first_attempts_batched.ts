import { Migration } from '@mikro-orm/migrations';
import { replacedOnce } from './Migration20261207500000_publish_job_rows';
import { FAN_OUT_EVENTS as PREVIOUS_FAN_OUT_EVENTS } from './Migration20261207900000_hot_delivery_updates';

/**
 * A fan-out writes one job for the first attempts of up to 16 of its deliveries due at the same time, instead of one
 * job per delivery: task `deliver`, payload `{deliveryIds, attempt: 1}`, no job key, 25 attempts (the engine's
 * `deliverBatchJob`, which test/integration/fan-out.test.ts holds it to). A delivery alone at its time keeps the job of
 * its own (`deliverJob`, key `deliver:<id>`). Each job is a row inserted, locked, and deleted in graphile-worker's
 * table, with its index entries: at fan-out 10 about a third of the WAL of a delivery.
 */
export class Migration20261208000000_first_attempts_batched extends Migration {
  override async up(): Promise<void> {
    this.addSql(FAN_OUT_EVENTS);
  }

  override async down(): Promise<void> {
    this.addSql(PREVIOUS_FAN_OUT_EVENTS);
  }
}

/** Each batch's job spec: a lone delivery's own job (key `deliver:<id>`), or a shared one. */
export const FIRST_ATTEMPT_JOB_SPECS = `select case when b.n = 1
                         then row('deliver', json_build_object('deliveryId', b.ids[1], 'attempt', 1), null, b.due, 25,
                                  'deliver:' || b.ids[1], null, null)::graphile_worker.job_spec
                         else row('deliver', json_build_object('deliveryIds', b.ids, 'attempt', 1), null, b.due, 25,
                                  null, null, null)::graphile_worker.job_spec end`;

/** The fan-out's deliveries that start now, in batches (`b`) of up to 16 due at the same time. */
export const FIRST_ATTEMPT_BATCHES = `from (select c.due, array_agg(c.delivery_id order by c.delivery_id) as ids, count(*) as n
                       from (select p.delivery_id, p.due,
                                    (row_number() over (partition by p.due order by p.delivery_id) - 1) / 16 as chunk
                               from placed p where p.start_now) c
                      group by c.due, c.chunk) b`;

export const FAN_OUT_EVENTS = replacedOnce(
  PREVIOUS_FAN_OUT_EVENTS,
  `select row('deliver', json_build_object('deliveryId', p.delivery_id, 'attempt', 1), null, p.due, 25,
                        'deliver:' || p.delivery_id, null, null)::graphile_worker.job_spec
               from placed p where p.start_now)`,
  `${FIRST_ATTEMPT_JOB_SPECS}
               ${FIRST_ATTEMPT_BATCHES})`,
);
