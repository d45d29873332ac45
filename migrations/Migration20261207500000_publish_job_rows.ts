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

const FAN_OUT_EVENTS = `
create or replace function herald.fan_out_events(events herald.fan_out_event[], only_endpoint text default null, filtered boolean default true)
returns table (ord bigint, event_id text, delivery_ids text[])
language plpgsql volatile
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  targets herald.fan_out_row[];
  grp text;
  -- A fan-out's delivery ids share their milliseconds and 50 random bits, and count up in the last 6 characters
  -- (hexadecimal digits are base32 ones): ids in fan-out order, one random draw per fan-out.
  id_base text := 'dlv_' || herald.id_stamp() || left(herald.id_random(uuid_send(gen_random_uuid())), 10);
begin
  -- Filters and pins are checked once per endpoint and distinct (application, type, version), not per event.
  with kinds as (
    select distinct e.application_id, e.type, e.version from unnest(events) e
  ), takers as materialized (
    select k.application_id, k.type, k.version, ep.id as endpoint_id, ep.ordered
      from (select distinct k0.application_id from kinds k0) a
      join public.endpoints ep on ep.application_id = a.application_id and ep.enabled
                              and (only_endpoint is null or ep.id = only_endpoint)
      join kinds k on k.application_id = a.application_id
     where not filtered or (herald.event_type_matches(ep.event_types, k.type)
                            and herald.version_pin_matches(ep.event_versions, k.type, k.version))
  )
  select array_agg(row(e.ord, e.id, e.application_id, e.type, tk.endpoint_id,
                       case when not filtered then null
                            when e.ordering_key is not null then tk.endpoint_id || ':' || e.ordering_key
                            when tk.ordered then tk.endpoint_id end, e.deliver_at)::herald.fan_out_row
                   order by e.ord, tk.endpoint_id)
    into targets
    from unnest(events) e
    join takers tk on tk.application_id = e.application_id and tk.type = e.type and tk.version = e.version
                  and (e.endpoint_ids is null or tk.endpoint_id = any(e.endpoint_ids));
  if targets is null then return; end if;

  for grp in select distinct t.ordering_group from unnest(targets) t where t.ordering_group is not null order by 1 loop
    if current_setting('transaction_isolation') <> 'read committed' then
      raise exception using errcode = '22023',
        message = format('herald: a delivery to an ordered endpoint (or of an event with an ordering key) needs a READ COMMITTED transaction, not %s: its order is checked against deliveries committed since the transaction began', upper(current_setting('transaction_isolation')));
    end if;
    perform pg_advisory_xact_lock(hashtext('herald:order:' || grp));
  end loop;

  -- One statement, whose snapshot is taken after the group locks: no predecessor's completion is missed.
  return query
  with numbered as (
    select t.ord, t.event_id, t.application_id, t.event_type, t.endpoint_id, t.ordering_group,
           id_base || lpad(to_hex(t.i), 6, '0') as delivery_id, greatest(t.deliver_at, now()) as due,
           row_number() over (partition by t.ordering_group order by t.ord, t.endpoint_id) as k,
           count(*) over (partition by t.ordering_group) as n
      from unnest(targets) with ordinality as t(ord, event_id, application_id, event_type, endpoint_id, ordering_group, deliver_at, i)
  ), sequences as (
    insert into public.ordering_sequences as s (ordering_group, last_sequence)
    select distinct nb.ordering_group, nb.n from numbered nb where nb.ordering_group is not null
    on conflict on constraint ordering_sequences_pkey do update set last_sequence = s.last_sequence + excluded.last_sequence
    returning s.ordering_group, s.last_sequence
  ), placed as (
    select nb.*, sq.last_sequence - nb.n + nb.k as sequence,
           nb.ordering_group is null
             or (nb.k = 1 and not exists (select 1 from public.deliveries d
                                           where d.ordering_group = nb.ordering_group and d.status in ('PENDING', 'FAILED'))) as start_now
      from numbered nb left join sequences sq on sq.ordering_group = nb.ordering_group
  ), inserted as (
    insert into public.deliveries (id, event_id, endpoint_id, application_id, event_type, status, attempt_count,
                                   next_attempt_at, ordering_group, sequence, created_at, updated_at)
    select p.delivery_id, p.event_id, p.endpoint_id, p.application_id, p.event_type, 'PENDING', 0, p.due,
           p.ordering_group, p.sequence, now(), now()
      from placed p
    returning 1
  ), jobs as (
    select graphile_worker.add_jobs(array(
             select row('deliver', json_build_object('deliveryId', p.delivery_id, 'attempt', 1), null, p.due, 25,
                        'deliver:' || p.delivery_id, null, null)::graphile_worker.job_spec
               from placed p where p.start_now)) as added
     where exists (select 1 from placed p where p.start_now)
  )
  select p.ord, p.event_id, array_agg(p.delivery_id order by p.endpoint_id)
    from placed p
   where (select count(*) from inserted) >= 0 and (select count(*) from jobs) >= 0
   group by p.event_id, p.ord
   order by p.ord;
end;
$$;
`;
