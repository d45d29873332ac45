import { Migration } from '@mikro-orm/migrations';
import {
  DELIVER_JOB as PREVIOUS_DELIVER_JOB,
  FAN_OUT as PREVIOUS_FAN_OUT,
  NEW_ID as PREVIOUS_NEW_ID,
  PUBLISH_EVENTS as PREVIOUS_PUBLISH_EVENTS,
} from './Migration20261206000000_one_fan_out';

/**
 * The one fan-out without reading back what a publish just wrote, and with set-based checks.
 *
 * - `herald.fan_out_events(events, only_endpoint, filtered)` fans out events given as rows (`herald.fan_out_event`):
 *   publish_events passes the events it inserted, so no statement reads `events` back (a plan made on a new, empty
 *   table scanned it whole on every later call of that connection). Filters and pins are checked once per endpoint
 *   and distinct (application, type, version). `herald.fan_out(event_ids, ...)` reads the events and calls it.
 * - `herald.publish_events` checks each distinct application, type, version and endpoint once per batch, not once
 *   per event, and finds its inserted events by a hashed join, not by a search of an array per event.
 * - Ids keep their format (prefix, 10 base32 characters of milliseconds, 16 more). `herald.new_id` is `herald.id_stamp`
 *   and 80 random bits (`herald.id_random`); a fan-out's delivery ids share one stamp and 50 random bits and count up
 *   in their last 6 characters, so one fan-out draws once, not once per delivery.
 * - `herald.deliver_job` is a SQL function, inlined where it is called.
 * - Scheduled and targeted publishing: an event may carry `deliver_at` (its deliveries are due then, at most 90 days
 *   ahead; stored in `events.deliver_at`) and `endpoint_ids` (only those endpoints of its application, whose filters
 *   still apply).
 *
 * Signatures and results are unchanged; CREATE OR REPLACE keeps every grant.
 */
export class Migration20261207000000_lean_publish extends Migration {
  override async up(): Promise<void> {
    this.addSql(DELIVER_JOB);
    this.addSql(IDS);
    this.addSql(FAN_OUT_EVENT);
    this.addSql(FAN_OUT_EVENTS);
    this.addSql(FAN_OUT);
    this.addSql(PUBLISH_TYPES);
    this.addSql(PUBLISH_EVENTS);
  }

  override async down(): Promise<void> {
    this.addSql(PREVIOUS_PUBLISH_EVENTS);
    this.addSql(PREVIOUS_FAN_OUT);
    this.addSql(PREVIOUS_NEW_ID);
    this.addSql(PREVIOUS_DELIVER_JOB);
    this.addSql('drop function if exists herald.fan_out_events(herald.fan_out_event[], text, boolean);');
    this.addSql('drop function if exists herald.id_random(bytea);');
    this.addSql('drop function if exists herald.id_stamp();');
    this.addSql('drop type if exists herald.fan_out_event;');
    this.addSql('drop type if exists herald.fan_out_result;');
    this.addSql('drop type if exists herald.event_json;');
    this.addSql('drop type if exists herald.publish_input;');
    this.addSql('drop type if exists herald.fan_out_row;');
    this.addSql('alter table public.events drop column if exists deliver_at;');
  }
}

export const DELIVER_JOB = `
create or replace function herald.deliver_job(delivery_id text, attempt integer, run_at timestamptz default null)
returns json
language sql immutable parallel safe as $$
  select json_build_object('identifier', 'deliver', 'payload', json_build_object('deliveryId', delivery_id, 'attempt', attempt),
                           'queue_name', null, 'run_at', run_at, 'max_attempts', 25, 'job_key', 'deliver:' || delivery_id,
                           'priority', null, 'flags', null)
$$;
`;

export const IDS = `
-- An id is its prefix, "_", 10 base32 characters of the milliseconds it was made in (herald.id_stamp) and 16 of 80
-- random bits (herald.id_random: the low 5 bits of each base64 digit of 12 random bytes).
create or replace function herald.id_stamp() returns text
language plpgsql volatile parallel safe as $$
declare
  alphabet constant text := '0123456789abcdefghjkmnpqrstvwxyz';
  ms bigint := floor(extract(epoch from clock_timestamp()) * 1000)::bigint;
begin
  return substr(alphabet, ((ms >> 45) & 31)::int + 1, 1) || substr(alphabet, ((ms >> 40) & 31)::int + 1, 1)
      || substr(alphabet, ((ms >> 35) & 31)::int + 1, 1) || substr(alphabet, ((ms >> 30) & 31)::int + 1, 1)
      || substr(alphabet, ((ms >> 25) & 31)::int + 1, 1) || substr(alphabet, ((ms >> 20) & 31)::int + 1, 1)
      || substr(alphabet, ((ms >> 15) & 31)::int + 1, 1) || substr(alphabet, ((ms >> 10) & 31)::int + 1, 1)
      || substr(alphabet, ((ms >> 5) & 31)::int + 1, 1) || substr(alphabet, (ms & 31)::int + 1, 1);
end;
$$;

-- Of a v4 UUID's 16 bytes, 7 and 9 carry its version and variant: 1-6 and 11-16 are random.
create or replace function herald.id_random(uuid_bytes bytea) returns text
language sql immutable parallel safe as $$
  select translate(encode(substr(uuid_bytes, 1, 6) || substr(uuid_bytes, 11, 6), 'base64'),
                   'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
                   '0123456789abcdefghjkmnpqrstvwxyz0123456789abcdefghjkmnpqrstvwxyz')
$$;

create or replace function herald.new_id(prefix text) returns text
language plpgsql volatile parallel safe as $$
declare
  uuid_bytes bytea := uuid_send(gen_random_uuid());
begin
  return prefix || '_' || herald.id_stamp() || herald.id_random(uuid_bytes);
end;
$$;
`;

const FAN_OUT_EVENT = `
create type herald.fan_out_event as (
  ord bigint, id text, application_id text, type text, version text, ordering_key text, deliver_at timestamptz,
  endpoint_ids text[]);

create type herald.fan_out_row as (
  ord bigint, event_id text, application_id text, event_type text, endpoint_id text, ordering_group text,
  deliver_at timestamptz);
`;

export const FAN_OUT_EVENTS = `
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
             select json_populate_record(null::graphile_worker.job_spec, herald.deliver_job(p.delivery_id, 1, p.due))
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

export const FAN_OUT = `
create or replace function herald.fan_out(event_ids text[], only_endpoint text default null, filtered boolean default true)
returns table (event_id text, delivery_ids text[])
language sql volatile as $$
  select f.event_id, f.delivery_ids
    from herald.fan_out_events(array(
           select row(x.ord, e.id, e.application_id, e.type, e.version, e.ordering_key, null, null)::herald.fan_out_event
             from unnest(event_ids) with ordinality as x(id, ord)
             join public.events e on e.id = x.id
            order by x.ord), only_endpoint, filtered) f
   order by f.ord
$$;
`;

const PUBLISH_TYPES = `
create type herald.fan_out_result as (ord bigint, delivery_ids text[]);

create type herald.event_json as (
  id text, application_id text, type text, version text, payload text, data json, idempotency_key text,
  ordering_key text, to_endpoint text, deliver_at timestamptz, endpoint_ids text[]);

create type herald.publish_input as (
  ord bigint, id text, application_id text, type text, version text, payload text, idempotency_key text,
  ordering_key text, to_endpoint text, deliver_at timestamptz, endpoint_ids text[]);

alter table public.events add column if not exists deliver_at timestamptz;
`;

const PUBLISH_EVENTS = `
create or replace function herald.publish_events(events json)
returns table (ord bigint, id text, application_id text, type text, version text, payload text,
               idempotency_key text, ordering_key text, created_at timestamptz, inserted boolean, delivery_ids text[])
language plpgsql volatile
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  inputs herald.publish_input[];
  problem record;
  inserted_ids text[];
  fresh herald.fan_out_event[];
  fanned herald.fan_out_result[];
  one herald.publish_input;
  targeted boolean;
begin
  if events is null or json_typeof(events) <> 'array' then
    raise exception using errcode = '22023', message = 'herald.publish_events: events must be a JSON array of event objects';
  end if;
  -- An event may bring its id (the API's, ordered within a millisecond) and its payload as JSON text ("payload",
  -- stored byte for byte) or as a JSON value ("data").
  -- A non-object element is refused by json_populate_recordset (22023) without a subtransaction per call.
  select array_agg(row(x.ordinality, coalesce(x.id, herald.new_id('evt')), coalesce(x.application_id, 'app_default'), x.type,
                       coalesce(x.version, '1.0'), coalesce(x.payload, x.data::text), x.idempotency_key, x.ordering_key,
                       x.to_endpoint, x.deliver_at, x.endpoint_ids)::herald.publish_input),
         coalesce(bool_or(x.to_endpoint is not null), false)
    into inputs, targeted
    from json_populate_recordset(null::herald.event_json, events) with ordinality as x;
  if inputs is null then inputs := '{}'; end if;

  -- What each distinct application, type, version and endpoint named needs is checked once, not once per event.
  with refs as materialized (
    select r.*,
      case when r.type is null or r.type !~ '^[A-Za-z0-9][A-Za-z0-9._:-]*$' or length(r.type) > 128 then
        format('%L is not a valid event type: use 1 to 128 letters, digits, ".", "_", ":" or "-" (for example ''order.created'')', r.type)
      end as type_problem,
      case when r.version !~ '^[A-Za-z0-9._-]+$' or length(r.version) > 32 then format('%L is not a valid version (for example ''1.0'')', r.version) end as version_problem,
      case
        when not exists (select 1 from public.applications a where a.id = r.application_id) then
          format('no application with id %L exists', r.application_id)
        when exists (select 1 from public.event_types t where t.name = r.type)
             and not exists (select 1 from public.event_type_versions v where v.event_type = r.type and v.version = r.version) then
          format('event type %L has no version %L in the catalog', r.type, r.version)
        when r.to_endpoint is not null and not exists (
               select 1 from public.endpoints ep where ep.id = r.to_endpoint and ep.application_id = r.application_id and ep.enabled) then
          format('no enabled endpoint %L in application %L', r.to_endpoint, r.application_id)
      end as reference_problem
    from (select distinct i.application_id, i.type, i.version, i.to_endpoint from unnest(inputs) i) r
  )
  select i.ord, c.message into problem
    from unnest(inputs) i
    join refs r on r.application_id = i.application_id and r.type is not distinct from i.type and r.version = i.version
               and r.to_endpoint is not distinct from i.to_endpoint
    cross join lateral (select coalesce(r.type_problem,
      case when i.payload is null or json_typeof(i.payload::json) <> 'object' then 'data must be a JSON object' end,
      r.version_problem,
      case when i.idempotency_key is not null and length(i.idempotency_key) not between 1 and 255 then
             'idempotency_key must be 1 to 255 characters'
           when i.ordering_key is not null and length(i.ordering_key) not between 1 and 255 then
             'ordering_key must be 1 to 255 characters'
           when i.deliver_at > now() + interval '90 days' then 'deliver_at must be at most 90 days ahead'
           when cardinality(i.endpoint_ids) = 0 or array_position(i.endpoint_ids, null) is not null then
             'endpoint_ids must name one or more endpoints' end,
      r.reference_problem) as message) c
   where c.message is not null
   order by i.ord
   limit 1;
  -- Endpoints named are endpoints of the event's application (a disabled one is named, and receives nothing).
  if not found and exists (select 1 from unnest(inputs) i where i.endpoint_ids is not null) then
    select i.ord, format('no endpoint %L in application %L', x.id, i.application_id) as message into problem
      from unnest(inputs) i cross join lateral unnest(i.endpoint_ids) x(id)
     where not exists (select 1 from public.endpoints ep where ep.id = x.id and ep.application_id = i.application_id)
     order by i.ord
     limit 1;
  end if;
  if found then
    raise exception using errcode = '22023', message = case when cardinality(inputs) = 1
      then format('herald.publish_event: %s', problem.message)
      else format('herald.publish_events: events[%s]: %s', problem.ord - 1, problem.message) end;
  end if;

  -- An idempotency key already used in the application (earlier, or by an event before it here) inserts nothing.
  with ins as (
    insert into public.events as ev (id, application_id, type, version, payload, idempotency_key, ordering_key, deliver_at, created_at)
    select i.id, i.application_id, i.type, i.version, i.payload, i.idempotency_key, i.ordering_key, i.deliver_at, now()
      from unnest(inputs) i
     order by i.ord
    on conflict on constraint events_application_id_idempotency_key_unique do nothing
    returning ev.id)
  select coalesce(array_agg(ins.id), '{}') into inserted_ids from ins;

  if cardinality(inserted_ids) = cardinality(inputs) then
    fresh := array(select row(i.ord, i.id, i.application_id, i.type, i.version, i.ordering_key, i.deliver_at, i.endpoint_ids)::herald.fan_out_event
                     from unnest(inputs) i where i.to_endpoint is null order by i.ord);
  else
    fresh := array(select row(i.ord, i.id, i.application_id, i.type, i.version, i.ordering_key, i.deliver_at, i.endpoint_ids)::herald.fan_out_event
                     from unnest(inputs) i join unnest(inserted_ids) s(id) on s.id = i.id
                    where i.to_endpoint is null order by i.ord);
  end if;
  fanned := array(select row(f.ord, f.delivery_ids)::herald.fan_out_result from herald.fan_out_events(fresh) f);
  -- An event for one endpoint (sendTestEvent) goes to it whatever its filters, outside any FIFO group.
  if targeted then
    for one in select i.* from unnest(inputs) i join unnest(inserted_ids) s(id) on s.id = i.id
                where i.to_endpoint is not null order by i.ord loop
      fanned := fanned || array(select row(f.ord, f.delivery_ids)::herald.fan_out_result
        from herald.fan_out_events(array[row(one.ord, one.id, one.application_id, one.type, one.version, one.ordering_key, one.deliver_at, null)::herald.fan_out_event],
                                   one.to_endpoint, false) f);
    end loop;
  end if;

  -- In input order (unnest keeps the array's).
  perform pg_notify('herald_changes', '{"kind":"event","eventId":' || to_json(i.id) || ',"applicationId":'
                                      || to_json(i.application_id) || ',"type":' || to_json(i.type) || '}')
     from unnest(inputs) i join unnest(inserted_ids) s(id) on s.id = i.id
    order by i.ord;

  -- An inserted event is its input as stored (created_at is the transaction's now()); any other is the event its
  -- idempotency key names.
  if cardinality(inserted_ids) = cardinality(inputs) then
    return query
    select i.ord, i.id, i.application_id, i.type, i.version, i.payload, i.idempotency_key, i.ordering_key, now(), true,
           coalesce(f.delivery_ids, '{}')
      from unnest(inputs) i left join unnest(fanned) f on f.ord = i.ord;
    return;
  end if;
  return query
  select i.ord, i.id, i.application_id, i.type, i.version, i.payload, i.idempotency_key, i.ordering_key, now(), true,
         coalesce(f.delivery_ids, '{}')
    from unnest(inputs) i join unnest(inserted_ids) s(id) on s.id = i.id
    left join unnest(fanned) f on f.ord = i.ord
  union all
  select i.ord, e.id, e.application_id, e.type, e.version, e.payload, e.idempotency_key, e.ordering_key, e.created_at, false,
         '{}'::text[]
    from unnest(inputs) i
    join public.events e on e.application_id = i.application_id and e.idempotency_key = i.idempotency_key
   where not exists (select 1 from unnest(inserted_ids) s(id) where s.id = i.id)
   order by 1;
end;
$$;
`;
