import { Migration } from '@mikro-orm/migrations';
import { PUBLISH_EVENT_SQL } from './Migration20261129300000_catalog';

/**
 * `herald.publish_event` keeps FIFO order as publishEvent does: a delivery to an ordered endpoint, or of an event
 * with an ordering key (the new last parameter), joins its group (the endpoint, plus the key) under the group's
 * advisory lock, takes the group's next sequence number, and gets a job only when nothing before it in the group
 * is unfinished (src/modules/deliveries/ordering.ts). Before, events published from SQL bypassed an ordered
 * endpoint's order. Within one call groups are entered in endpoint id order, as the API enters them. A group's lock
 * is held until the producer's transaction ends, so a producer that publishes to ordered endpoints several times in
 * one transaction can deadlock with concurrent publishes (PostgreSQL then aborts one of them, which may be retried);
 * docs/publishing.md says to publish last and keep such transactions short. The check that nothing before the new
 * delivery is unfinished needs a fresh snapshot, so a grouped publish refuses any isolation but READ COMMITTED: under
 * REPEATABLE READ it could miss a predecessor's completion and leave the group waiting for ever.
 */
export class Migration20261130300000_sql_publish_ordering extends Migration {
  override async up(): Promise<void> {
    this.replaceKeepingGrants(FIVE_ARGUMENTS, PUBLISH_EVENT, SIX_ARGUMENTS);
  }

  override async down(): Promise<void> {
    this.replaceKeepingGrants(SIX_ARGUMENTS, PUBLISH_EVENT_SQL, FIVE_ARGUMENTS);
  }

  /**
   * A new signature is a new function: dropping the old one drops the EXECUTE grants an operator gave on it, and the
   * new one starts with PostgreSQL's default (EXECUTE for PUBLIC). The new one is created beside the old, takes its
   * privileges (the roles it was granted to keep it, and a PUBLIC the operator revoked stays revoked), and only then
   * is the old one dropped.
   */
  private replaceKeepingGrants(oldSignature: string, create: string, newSignature: string): void {
    this.addSql(create);
    this.addSql(`
do $grants$
declare
  acl aclitem[];
  grantee oid;
begin
  select proacl into acl from pg_proc where oid = to_regprocedure('${oldSignature}');
  -- No old function, or one with the default privileges, which the new one has too.
  if acl is null then return; end if;
  revoke all on function ${newSignature} from public;
  for grantee in select e.grantee from aclexplode(acl) e where e.privilege_type = 'EXECUTE' loop
    if grantee = 0 then
      grant execute on function ${newSignature} to public;
    else
      execute format('grant execute on function ${newSignature} to %s', grantee::regrole);
    end if;
  end loop;
end $grants$;`);
    this.addSql(`drop function if exists ${oldSignature};`);
  }
}

const FIVE_ARGUMENTS = 'herald.publish_event(text, json, text, text, text)';
const SIX_ARGUMENTS = 'herald.publish_event(text, json, text, text, text, text)';

export const PUBLISH_EVENT = `
create or replace function herald.publish_event(
  event_type text,
  data json,
  idempotency_key text default null,
  application_id text default 'app_default',
  version text default '1.0',
  ordering_key text default null
) returns text
language plpgsql volatile as $$
declare
  new_event_id text := herald.new_id('evt');
  existing_id text;
  target record;
  new_delivery_id text;
  group_name text;
  next_sequence bigint;
  start_now boolean;
  to_start text[] := '{}';
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
  if ordering_key is not null and (length(ordering_key) < 1 or length(ordering_key) > 255) then
    raise exception using errcode = '22023', message = 'herald.publish_event: ordering_key must be 1 to 255 characters';
  end if;
  if exists (select 1 from public.event_types t where t.name = event_type)
     and not exists (select 1 from public.event_type_versions v where v.event_type = publish_event.event_type and v.version = publish_event.version) then
    raise exception using errcode = '22023',
      message = format('herald.publish_event: event type %L has no version %L in the catalog', event_type, version);
  end if;
  if not exists (select 1 from public.applications a where a.id = publish_event.application_id) then
    raise exception using errcode = '22023', message = format('herald.publish_event: no application with id %L exists', application_id);
  end if;

  insert into public.events (id, application_id, type, version, payload, idempotency_key, ordering_key, created_at)
  values (new_event_id, publish_event.application_id, event_type, publish_event.version, data::text, publish_event.idempotency_key,
          publish_event.ordering_key, now())
  on conflict on constraint events_application_id_idempotency_key_unique do nothing;
  if not found then
    select e.id into existing_id from public.events e
     where e.application_id = publish_event.application_id and e.idempotency_key = publish_event.idempotency_key;
    return existing_id;
  end if;

  for target in
    select e.id, e.ordered
      from public.endpoints e
     where e.application_id = publish_event.application_id
       and e.enabled
       and (cardinality(e.event_types) = 0 or exists (
             select 1 from unnest(e.event_types) f
              where event_type like replace(replace(replace(f, '\\', '\\\\'), '_', '\\_'), '*', '%')))
       and coalesce(e.event_versions ->> event_type, publish_event.version) = publish_event.version
     order by e.id
  loop
    new_delivery_id := herald.new_id('dlv');
    group_name := case
      when publish_event.ordering_key is not null then target.id || ':' || publish_event.ordering_key
      when target.ordered then target.id
      else null
    end;
    next_sequence := null;
    start_now := true;
    if group_name is not null then
      if current_setting('transaction_isolation') <> 'read committed' then
        raise exception using errcode = '22023',
          message = format('herald.publish_event: a delivery to an ordered endpoint (or with an ordering_key) needs a READ COMMITTED transaction, not %s: its order is checked against deliveries committed since the transaction began', upper(current_setting('transaction_isolation')));
      end if;
      perform pg_advisory_xact_lock(hashtext('herald:order:' || group_name));
      insert into public.ordering_sequences as s (ordering_group, last_sequence) values (group_name, 1)
      on conflict on constraint ordering_sequences_pkey do update set last_sequence = s.last_sequence + 1
      returning s.last_sequence into next_sequence;
      start_now := not exists (
        select 1 from public.deliveries d where d.ordering_group = group_name and d.status in ('PENDING', 'FAILED'));
    end if;
    insert into public.deliveries (id, event_id, endpoint_id, application_id, event_type, status, attempt_count, next_attempt_at,
                                   ordering_group, sequence, created_at, updated_at)
    values (new_delivery_id, new_event_id, target.id, publish_event.application_id, event_type, 'PENDING', 0, now(),
            group_name, next_sequence, now(), now());
    if start_now then
      to_start := to_start || new_delivery_id;
    end if;
  end loop;

  if cardinality(to_start) > 0 then
    perform graphile_worker.add_jobs(array(
      select row('deliver', json_build_object('deliveryId', d, 'attempt', 1), null, null, 25, 'deliver:' || d, null, null)::graphile_worker.job_spec
        from unnest(to_start) d
    ));
  end if;

  perform pg_notify('herald_changes', json_build_object(
    'kind', 'event', 'eventId', new_event_id, 'applicationId', publish_event.application_id, 'type', event_type)::text);
  return new_event_id;
end;
$$;
`;
