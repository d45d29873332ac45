import { Migration } from '@mikro-orm/migrations';
import { PUBLISH_EVENT as ORDERED_PUBLISH_EVENT } from './Migration20261130300000_sql_publish_ordering';

/**
 * One fan-out, in the database, for every way an event becomes deliveries: the API's publishEvent and
 * publishEvents, inbound sources, sendTestEvent, enableEndpoint(redeliverMissed) and SQL producers all call
 * `herald.publish_events` or `herald.fan_out`, so a producer's SQL publish is exactly the API's.
 *
 * - `herald.event_type_matches` and `herald.version_pin_matches`: an endpoint's filters (no filter: every type; `*`
 *   is any run of characters, everything else literal) and version pins.
 * - `herald.deliver_job`: the job of a delivery's attempt (task `deliver`, key `deliver:<id>`) as a job_spec's JSON,
 *   as deliverJob writes it in TypeScript (a test compares the two).
 * - `herald.fan_out(event_ids, only_endpoint, filtered)`: one delivery per stored event and enabled endpoint whose
 *   filters and pins take it, FIFO groups entered (each group's advisory lock in name order, its next sequence
 *   numbers, a job only for a group's first delivery when nothing before it is unfinished), every other delivery's
 *   first job. Returns the delivery ids per event, in endpoint id order.
 * - `herald.publish_events(events json)`: checks a batch of events, inserts them (an idempotency key already used
 *   in the application returns that event instead, inserting nothing), fans out the inserted ones and notifies one
 *   `event` change each. Returns each input's stored event in input order.
 * - `herald.publish_event(...)`: the one-event form producers call, now through publish_events.
 *
 * A group's lock is held until the caller's transaction ends; a grouped fan-out refuses any isolation but READ
 * COMMITTED (its check that nothing before a delivery is unfinished needs a fresh snapshot).
 */
export class Migration20261206000000_one_fan_out extends Migration {
  override async up(): Promise<void> {
    this.addSql(NEW_ID);
    this.addSql(MATCHERS);
    this.addSql(DELIVER_JOB);
    this.addSql(FAN_OUT_TARGET);
    this.addSql(FAN_OUT);
    this.addSql(EVENT_INPUT);
    this.addSql(PUBLISH_EVENTS);
    this.addSql(PUBLISH_EVENT);
  }

  override async down(): Promise<void> {
    this.addSql(ORDERED_PUBLISH_EVENT);
    this.addSql('drop function if exists herald.publish_events(json);');
    this.addSql('drop function if exists herald.fan_out(text[], text, boolean);');
    this.addSql('drop type if exists herald.fan_out_target;');
    this.addSql('drop type if exists herald.event_input;');
    this.addSql('drop function if exists herald.deliver_job(text, integer, timestamptz);');
    this.addSql('drop function if exists herald.event_type_matches(text[], text);');
    this.addSql('drop function if exists herald.version_pin_matches(jsonb, text, text);');
  }
}

/** The same ids as before (prefix, 10 base32 characters of milliseconds, 16 of 80 random bits), with bigint arithmetic. */
export const NEW_ID = `
create or replace function herald.new_id(prefix text) returns text
language plpgsql volatile parallel safe as $$
declare
  alphabet constant text := '0123456789abcdefghjkmnpqrstvwxyz';
  ms bigint := floor(extract(epoch from clock_timestamp()) * 1000)::bigint;
  hex text := replace(gen_random_uuid()::text, '-', '');
  -- A v4 UUID's hex digits 13 (version) and 17 (variant) are not random: take 1-10 and 19-28.
  hi bigint := ('x' || substr(hex, 1, 10))::bit(40)::bigint;
  lo bigint := ('x' || substr(hex, 19, 10))::bit(40)::bigint;
  out text := prefix || '_';
  i int;
begin
  for i in reverse 9..0 loop
    out := out || substr(alphabet, ((ms >> (5 * i)) & 31)::int + 1, 1);
  end loop;
  for i in reverse 7..0 loop
    out := out || substr(alphabet, ((hi >> (5 * i)) & 31)::int + 1, 1);
  end loop;
  for i in reverse 7..0 loop
    out := out || substr(alphabet, ((lo >> (5 * i)) & 31)::int + 1, 1);
  end loop;
  return out;
end;
$$;`;

const MATCHERS = `
create or replace function herald.event_type_matches(filters text[], event_type text) returns boolean
language plpgsql immutable parallel safe as $$
declare
  f text;
begin
  -- PL/pgSQL, not SQL: a SQL function with a subquery is not inlined, and was planned again on every call.
  if cardinality(filters) = 0 then return true; end if;
  foreach f in array filters loop
    if strpos(f, '*') = 0 then
      if f = event_type then return true; end if;
    elsif event_type like replace(replace(replace(f, '\\', '\\\\'), '_', '\\_'), '*', '%') then
      return true;
    end if;
  end loop;
  return false;
end;
$$;

create or replace function herald.version_pin_matches(pins jsonb, event_type text, version text) returns boolean
language sql immutable parallel safe as $$
  select coalesce(pins ->> event_type, version) = version
$$;`;

/** JSON, not graphile_worker.job_spec: graphile-worker's schema is installed after Herald's migrations. */
export const DELIVER_JOB = `
create or replace function herald.deliver_job(delivery_id text, attempt integer, run_at timestamptz default null)
returns json
language plpgsql immutable parallel safe as $$
begin
  return json_build_object('identifier', 'deliver', 'payload', json_build_object('deliveryId', delivery_id, 'attempt', attempt),
                           'queue_name', null, 'run_at', run_at, 'max_attempts', 25, 'job_key', 'deliver:' || delivery_id,
                           'priority', null, 'flags', null);
end;
$$;`;

const FAN_OUT_TARGET = `
create type herald.fan_out_target as (
  ord bigint, event_id text, application_id text, event_type text, endpoint_id text, ordering_group text);`;

export const FAN_OUT = `
create or replace function herald.fan_out(event_ids text[], only_endpoint text default null, filtered boolean default true)
returns table (event_id text, delivery_ids text[])
language plpgsql volatile
-- Planned once per connection: with custom plans, each call planned its statements again (most of its cost).
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  targets herald.fan_out_target[];
  grouped boolean;
  grp text;
begin
  select array_agg(t order by t.ord, t.endpoint_id), coalesce(bool_or(t.ordering_group is not null), false)
    into targets, grouped
    from (select x.ord, e.id, e.application_id, e.type, ep.id,
                 case when not filtered then null
                      when e.ordering_key is not null then ep.id || ':' || e.ordering_key
                      when ep.ordered then ep.id end
            from unnest(event_ids) with ordinality as x(id, ord)
            join public.events e on e.id = x.id
            join public.endpoints ep on ep.application_id = e.application_id and ep.enabled
             and (only_endpoint is null or ep.id = only_endpoint)
             and (not filtered or (herald.event_type_matches(ep.event_types, e.type)
                                   and herald.version_pin_matches(ep.event_versions, e.type, e.version)))
         ) as t(ord, event_id, application_id, event_type, endpoint_id, ordering_group);
  if targets is null then return; end if;

  for grp in select distinct t.ordering_group from unnest(targets) t where grouped and t.ordering_group is not null order by 1 loop
    if current_setting('transaction_isolation') <> 'read committed' then
      raise exception using errcode = '22023',
        message = format('herald: a delivery to an ordered endpoint (or of an event with an ordering key) needs a READ COMMITTED transaction, not %s: its order is checked against deliveries committed since the transaction began', upper(current_setting('transaction_isolation')));
    end if;
    perform pg_advisory_xact_lock(hashtext('herald:order:' || grp));
  end loop;

  -- One statement, whose snapshot is taken after the group locks: no predecessor's completion is missed.
  return query
  with numbered as (
    select t.*, herald.new_id('dlv') as delivery_id,
           row_number() over (partition by t.ordering_group order by t.ord, t.endpoint_id) as k,
           count(*) over (partition by t.ordering_group) as n
      from unnest(targets) t
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
    select p.delivery_id, p.event_id, p.endpoint_id, p.application_id, p.event_type, 'PENDING', 0, now(),
           p.ordering_group, p.sequence, now(), now()
      from placed p
    returning 1
  ), jobs as (
    select graphile_worker.add_jobs(array(
             select json_populate_record(null::graphile_worker.job_spec, herald.deliver_job(p.delivery_id, 1))
               from placed p where p.start_now)) as added
     where exists (select 1 from placed p where p.start_now)
  )
  select p.event_id, array_agg(p.delivery_id order by p.endpoint_id)
    from placed p
   where (select count(*) from inserted) >= 0 and (select count(*) from jobs) >= 0
   group by p.event_id, p.ord
   order by p.ord;
end;
$$;`;

const EVENT_INPUT = `
create type herald.event_input as (
  ord bigint, id text, application_id text, type text, version text, payload text, idempotency_key text,
  ordering_key text, to_endpoint text);`;

export const PUBLISH_EVENTS = `
create or replace function herald.publish_events(events json)
returns table (ord bigint, id text, application_id text, type text, version text, payload text,
               idempotency_key text, ordering_key text, created_at timestamptz, inserted boolean, delivery_ids text[])
language plpgsql volatile
set plan_cache_mode = force_generic_plan as $$
#variable_conflict use_column
declare
  inputs herald.event_input[];
  problem record;
  inserted_ids text[];
  fanned jsonb;
  one herald.event_input;
  targeted boolean;
begin
  if events is null or json_typeof(events) <> 'array' then
    raise exception using errcode = '22023', message = 'herald.publish_events: events must be a JSON array of event objects';
  end if;
  -- An event may bring its id (the API's, ordered within a millisecond) and its payload as JSON text ("payload",
  -- stored byte for byte) or as a JSON value ("data").
  select array_agg(row(x.ord, coalesce(x.e ->> 'id', herald.new_id('evt')), coalesce(x.e ->> 'application_id', 'app_default'),
                       x.e ->> 'type', coalesce(x.e ->> 'version', '1.0'), coalesce(x.e ->> 'payload', (x.e -> 'data')::text),
                       x.e ->> 'idempotency_key', x.e ->> 'ordering_key', x.e ->> 'to_endpoint')::herald.event_input order by x.ord),
         coalesce(bool_or(x.e ->> 'to_endpoint' is not null), false)
    into inputs, targeted
    from json_array_elements(events) with ordinality as x(e, ord);
  if inputs is null then inputs := '{}'; end if;

  select i.ord, c.message into problem
    from unnest(inputs) i
    cross join lateral (select case
      when i.type is null or i.type !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' then
        format('%L is not a valid event type: use 1 to 128 letters, digits, ".", "_", ":" or "-" (for example ''order.created'')', i.type)
      when i.payload is null or json_typeof(i.payload::json) <> 'object' then 'data must be a JSON object'
      when i.version !~ '^[A-Za-z0-9._-]{1,32}$' then format('%L is not a valid version (for example ''1.0'')', i.version)
      when i.idempotency_key is not null and length(i.idempotency_key) not between 1 and 255 then
        'idempotency_key must be 1 to 255 characters'
      when i.ordering_key is not null and length(i.ordering_key) not between 1 and 255 then
        'ordering_key must be 1 to 255 characters'
      when not exists (select 1 from public.applications a where a.id = i.application_id) then
        format('no application with id %L exists', i.application_id)
      when exists (select 1 from public.event_types t where t.name = i.type)
           and not exists (select 1 from public.event_type_versions v where v.event_type = i.type and v.version = i.version) then
        format('event type %L has no version %L in the catalog', i.type, i.version)
      when i.to_endpoint is not null and not exists (
             select 1 from public.endpoints ep where ep.id = i.to_endpoint and ep.application_id = i.application_id and ep.enabled) then
        format('no enabled endpoint %L in application %L', i.to_endpoint, i.application_id)
    end as message) c
   where c.message is not null
   order by i.ord
   limit 1;
  if found then
    raise exception using errcode = '22023', message = case when cardinality(inputs) = 1
      then format('herald.publish_event: %s', problem.message)
      else format('herald.publish_events: events[%s]: %s', problem.ord - 1, problem.message) end;
  end if;

  -- An idempotency key already used in the application (earlier, or by an event before it here) inserts nothing.
  with ins as (
    insert into public.events as ev (id, application_id, type, version, payload, idempotency_key, ordering_key, created_at)
    select i.id, i.application_id, i.type, i.version, i.payload, i.idempotency_key, i.ordering_key, now()
      from unnest(inputs) i
     order by i.ord
    on conflict on constraint events_application_id_idempotency_key_unique do nothing
    returning ev.id)
  select coalesce(array_agg(ins.id), '{}') into inserted_ids from ins;

  select coalesce(jsonb_object_agg(f.event_id, f.delivery_ids), '{}') into fanned
    from herald.fan_out(array(select i.id from unnest(inputs) i
                               where i.to_endpoint is null and i.id = any(inserted_ids) order by i.ord)) f;
  -- An event for one endpoint (sendTestEvent) goes to it whatever its filters, outside any FIFO group.
  if targeted then
    for one in select * from unnest(inputs) i where i.to_endpoint is not null and i.id = any(inserted_ids) order by i.ord loop
      select fanned || coalesce(jsonb_object_agg(f.event_id, f.delivery_ids), '{}') into fanned
        from herald.fan_out(array[one.id], one.to_endpoint, false) f;
    end loop;
  end if;

  -- In input order (unnest keeps the array's).
  perform pg_notify('herald_changes', json_build_object(
            'kind', 'event', 'eventId', i.id, 'applicationId', i.application_id, 'type', i.type)::text)
     from unnest(inputs) i where i.id = any(inserted_ids);

  -- An inserted event is its input as stored (created_at is the transaction's now()); any other is the event its
  -- idempotency key names.
  return query
  select i.ord, i.id, i.application_id, i.type, i.version, i.payload, i.idempotency_key, i.ordering_key, now(), true,
         coalesce(array(select jsonb_array_elements_text(fanned -> i.id)), '{}')
    from unnest(inputs) i where i.id = any(inserted_ids)
  union all
  select i.ord, e.id, e.application_id, e.type, e.version, e.payload, e.idempotency_key, e.ordering_key, e.created_at, false,
         '{}'::text[]
    from unnest(inputs) i
    join public.events e on e.application_id = i.application_id and e.idempotency_key = i.idempotency_key
   where not (i.id = any(inserted_ids))
   order by 1;
end;
$$;`;

const PUBLISH_EVENT = `
create or replace function herald.publish_event(
  event_type text,
  data json,
  idempotency_key text default null,
  application_id text default 'app_default',
  version text default '1.0',
  ordering_key text default null
) returns text
language sql volatile as $$
  select p.id from herald.publish_events(json_build_array(json_build_object(
    'type', event_type, 'data', data, 'idempotency_key', idempotency_key, 'application_id', application_id,
    'version', version, 'ordering_key', ordering_key))) p
$$;`;
