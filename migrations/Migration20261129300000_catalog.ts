import { Migration } from '@mikro-orm/migrations';
import { SEED_EVENT_TYPES } from '../src/modules/catalog/seed-catalog';

/**
 * Event type catalog (with the seed design's ten standard types), endpoint version pins, inbound sources,
 * and `herald.publish_event(...)`: publishing from SQL inside a producer's own transaction.
 */
export class Migration20261129300000_catalog extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "event_types" ("name" text not null, "description" text not null, "deprecated_at" timestamptz null, "deprecation_note" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "event_types_pkey" primary key ("name"));`,
    );
    this.addSql(
      `create table "event_type_versions" ("id" text not null, "event_type" text not null, "version" text not null, "schema" jsonb null, "example" text not null, "created_at" timestamptz not null default now(), constraint "event_type_versions_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "event_type_versions" add constraint "event_type_versions_event_type_version_unique" unique ("event_type", "version");`,
    );
    this.addSql(
      `alter table "event_type_versions" add constraint "event_type_versions_event_type_foreign" foreign key ("event_type") references "event_types" ("name") on update cascade on delete cascade;`,
    );
    this.addSql(`alter table "endpoints" add column "event_versions" jsonb not null default '{}';`);

    this.addSql(
      `create table "sources" ("id" text not null, "application_id" text not null, "name" text not null, "scheme" text check ("scheme" in ('STANDARD_WEBHOOKS', 'GITHUB', 'STRIPE', 'HMAC')) not null, "secret" text not null, "hmac_header" text null, "event_type_header" text null, "event_type_path" text null, "event_type_prefix" text not null default '', "default_event_type" text null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "sources_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "sources" add constraint "sources_application_id_foreign" foreign key ("application_id") references "applications" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `create table "inbound_requests" ("id" text not null, "source_id" text not null, "headers" jsonb not null, "body" text not null, "event_id" text null, "received_at" timestamptz not null default now(), constraint "inbound_requests_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "inbound_requests_source_id_id_index" on "inbound_requests" ("source_id", "id");`);
    this.addSql(
      `alter table "inbound_requests" add constraint "inbound_requests_source_id_foreign" foreign key ("source_id") references "sources" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "inbound_requests" add constraint "inbound_requests_event_id_foreign" foreign key ("event_id") references "events" ("id") on update cascade on delete set null;`,
    );

    for (const seed of SEED_EVENT_TYPES) {
      this.addSql(`insert into "event_types" ("name", "description") values (${literal(seed.name)}, ${literal(seed.description)});`);
      this.addSql(
        `insert into "event_type_versions" ("id", "event_type", "version", "schema", "example") values (${literal(`etv_${seed.name}@${seed.version}`)}, ${literal(seed.name)}, ${literal(seed.version)}, ${literal(JSON.stringify(seed.schema))}::jsonb, ${literal(JSON.stringify(seed.example))});`,
      );
    }

    this.addSql(PUBLISH_EVENT_SQL);
  }
}

/**
 * The same unit of work as EventService.publish, in SQL, so it runs inside the caller's transaction:
 * the event (idempotent per application), one delivery per enabled endpoint whose filters and version pin
 * match, their graphile-worker jobs and the notification. JSON Schema validation is the one step it does
 * not do (PostgreSQL has no JSON Schema validator); it does refuse a version the catalog does not have.
 * docs/publishing.md says so.
 */
/** Exported for the migration that replaced it, whose down() restores it. */
export const PUBLISH_EVENT_SQL = `
create schema if not exists herald;

create or replace function herald.new_id(prefix text) returns text
language plpgsql volatile as $$
declare
  alphabet constant text := '0123456789abcdefghjkmnpqrstvwxyz';
  ms bigint := floor(extract(epoch from clock_timestamp()) * 1000)::bigint;
  random_bytes bytea := decode(substr(replace(gen_random_uuid()::text, '-', ''), 1, 20), 'hex');
  out text := '';
  bits numeric := 0;
  i int;
begin
  for i in 1..10 loop
    out := substr(alphabet, (ms % 32)::int + 1, 1) || out;
    ms := ms / 32;
  end loop;
  for i in 0..9 loop
    bits := bits * 256 + get_byte(random_bytes, i);
  end loop;
  for i in 1..16 loop
    out := out || substr(alphabet, (mod(bits, 32))::int + 1, 1);
    bits := floor(bits / 32);
  end loop;
  return prefix || '_' || out;
end;
$$;

create or replace function herald.publish_event(
  event_type text,
  data json,
  idempotency_key text default null,
  application_id text default 'app_default',
  version text default '1.0'
) returns text
language plpgsql volatile as $$
declare
  new_event_id text := herald.new_id('evt');
  existing_id text;
  delivery_ids text[];
begin
  if event_type is null or event_type !~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$' then
    raise exception using errcode = '22023',
      message = format('herald.publish_event: %L is not a valid event type: use 1 to 128 letters, digits, ".", "_", ":" or "-" (for example ''order.created'')', event_type);
  end if;
  if data is null or json_typeof(data) <> 'object' then
    raise exception using errcode = '22023', message = 'herald.publish_event: data must be a JSON object';
  end if;
  if version is null or version !~ '^[A-Za-z0-9._-]{1,32}$' then
    raise exception using errcode = '22023', message = format('herald.publish_event: %L is not a valid version (for example ''1.0'')', version);
  end if;
  if idempotency_key is not null and (length(idempotency_key) < 1 or length(idempotency_key) > 255) then
    raise exception using errcode = '22023', message = 'herald.publish_event: idempotency_key must be 1 to 255 characters';
  end if;
  if exists (select 1 from public.event_types t where t.name = event_type)
     and not exists (select 1 from public.event_type_versions v where v.event_type = publish_event.event_type and v.version = publish_event.version) then
    raise exception using errcode = '22023',
      message = format('herald.publish_event: event type %L has no version %L in the catalog', event_type, version);
  end if;
  if not exists (select 1 from public.applications a where a.id = publish_event.application_id) then
    raise exception using errcode = '22023', message = format('herald.publish_event: no application with id %L exists', application_id);
  end if;

  insert into public.events (id, application_id, type, version, payload, idempotency_key, created_at)
  values (new_event_id, publish_event.application_id, event_type, publish_event.version, data::text, publish_event.idempotency_key, now())
  on conflict on constraint events_application_id_idempotency_key_unique do nothing;
  if not found then
    select e.id into existing_id from public.events e
     where e.application_id = publish_event.application_id and e.idempotency_key = publish_event.idempotency_key;
    return existing_id;
  end if;

  with targets as (
    select e.id as endpoint_id, herald.new_id('dlv') as delivery_id
      from public.endpoints e
     where e.application_id = publish_event.application_id
       and e.enabled
       and (cardinality(e.event_types) = 0 or exists (
             select 1 from unnest(e.event_types) f
              where event_type like replace(replace(replace(f, '\\', '\\\\'), '_', '\\_'), '*', '%')))
       and coalesce(e.event_versions ->> event_type, publish_event.version) = publish_event.version
     order by e.id
  ), inserted as (
    insert into public.deliveries (id, event_id, endpoint_id, application_id, event_type, status, attempt_count, next_attempt_at, created_at, updated_at)
    select t.delivery_id, new_event_id, t.endpoint_id, publish_event.application_id, event_type, 'PENDING', 0, now(), now(), now()
      from targets t
    returning id
  )
  select coalesce(array_agg(id order by id), '{}') into delivery_ids from inserted;

  if cardinality(delivery_ids) > 0 then
    perform graphile_worker.add_jobs(array(
      select row('deliver', json_build_object('deliveryId', d, 'attempt', 1), null, null, 25, 'deliver:' || d, null, null)::graphile_worker.job_spec
        from unnest(delivery_ids) d
    ));
  end if;

  perform pg_notify('herald_changes', json_build_object(
    'kind', 'event', 'eventId', new_event_id, 'applicationId', publish_event.application_id, 'type', event_type)::text);
  return new_event_id;
end;
$$;
`;

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
