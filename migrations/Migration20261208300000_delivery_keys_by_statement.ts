import { Migration } from '@mikro-orm/migrations';
import { replacedOnce } from './Migration20261207500000_publish_job_rows';
import { FAN_OUT as PREVIOUS_FAN_OUT } from './Migration20261207000000_lean_publish';
import { FAN_OUT_EVENTS as FAN_OUT_EVENTS_WITH_JOB_ROWS } from './Migration20261208200000_fan_out_inserts_jobs';

/**
 * A delivery's event and endpoint are held once per fan-out statement instead of by a foreign key checked for every
 * delivery row: the keys' checks cost about 40 µs of PostgreSQL per check in a publish of one event, and 11 to 12% of
 * a publish in all (docs/performance.md).
 *
 * - The fan-out takes a key share lock on each endpoint it delivers to, in the statement that chooses them: a deletion
 *   committed first leaves the endpoint out; one that comes later waits for the publish and then deletes its
 *   deliveries too. Events are the fan-out's own (inserted in its transaction), or, for `herald.fan_out` (an endpoint
 *   enabled with its missed events), locked the same way.
 * - Deleting events or endpoints deletes their deliveries in one statement per statement (`events_deleted`,
 *   `endpoints_deleted`), as the keys' cascades did row by row; the deliveries' own cascades (attempts, parkings) and
 *   set triggers follow as before.
 */
export class Migration20261208300000_delivery_keys_by_statement extends Migration {
  override async up(): Promise<void> {
    this.addSql(FAN_OUT_EVENTS);
    this.addSql(FAN_OUT);
    for (const statement of deletesItsDeliveries('events', 'event_id')) this.addSql(statement);
    for (const statement of deletesItsDeliveries('endpoints', 'endpoint_id')) this.addSql(statement);
    this.addSql('alter table "deliveries" drop constraint "deliveries_event_id_foreign";');
    this.addSql('alter table "deliveries" drop constraint "deliveries_endpoint_id_foreign";');
  }

  override async down(): Promise<void> {
    this.addSql('drop trigger endpoints_deleted on public.endpoints;');
    this.addSql('drop trigger events_deleted on public.events;');
    this.addSql('drop function herald.endpoints_deleted();');
    this.addSql('drop function herald.events_deleted();');
    this.addSql(
      'delete from "deliveries" d where not exists (select 1 from "events" e where e.id = d.event_id) or not exists (select 1 from "endpoints" ep where ep.id = d.endpoint_id);',
    );
    this.addSql(
      'alter table "deliveries" add constraint "deliveries_endpoint_id_foreign" foreign key ("endpoint_id") references "endpoints" ("id") on update cascade on delete cascade;',
    );
    this.addSql(
      'alter table "deliveries" add constraint "deliveries_event_id_foreign" foreign key ("event_id") references "events" ("id") on update cascade on delete cascade;',
    );
    this.addSql(PREVIOUS_FAN_OUT);
    this.addSql(FAN_OUT_EVENTS_WITH_JOB_ROWS);
  }
}

/** A statement trigger on `table` deleting the deliveries whose `column` names a deleted row, in one statement. */
function deletesItsDeliveries(table: 'events' | 'endpoints', column: 'event_id' | 'endpoint_id'): string[] {
  return [
    `create or replace function herald.${table}_deleted() returns trigger language plpgsql as $$
begin
  delete from public.deliveries d where d.${column} = any(array(select o.id from deleted_${table} o));
  return null;
end;
$$;`,
    `create trigger ${table}_deleted after delete on public.${table} referencing old table as deleted_${table} for each statement execute function herald.${table}_deleted();`,
  ];
}

export const FAN_OUT_EVENTS = replacedOnce(
  FAN_OUT_EVENTS_WITH_JOB_ROWS,
  `     where not filtered or (herald.event_type_matches(ep.event_types, k.type)
                            and herald.version_pin_matches(ep.event_versions, k.type, k.version))
  )`,
  `     where not filtered or (herald.event_type_matches(ep.event_types, k.type)
                            and herald.version_pin_matches(ep.event_versions, k.type, k.version))
       -- In place of a key checked per delivery: an endpoint being deleted is waited for and left out.
       for key share of ep
  )`,
);

const FAN_OUT = replacedOnce(
  PREVIOUS_FAN_OUT,
  '            order by x.ord), only_endpoint',
  '            order by x.ord for key share of e), only_endpoint',
);
