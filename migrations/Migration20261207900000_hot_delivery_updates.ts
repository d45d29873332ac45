import { Migration } from '@mikro-orm/migrations';
import { HOT_TABLE_AUTOVACUUM } from '../src/db/autovacuum';
import { FAN_OUT_EVENTS as PREVIOUS_FAN_OUT_EVENTS, replacedOnce } from './Migration20261207500000_publish_job_rows';

/**
 * A delivery's outcome is a HOT update: no index of `deliveries` holds a column its status change writes.
 *
 * - The sets queries look up by state live in tables of their own, kept by triggers on `deliveries` in the statement
 *   that changes a status, whoever writes it: `open_deliveries` (PENDING and FAILED: the backlog, FIFO groups,
 *   cancelling) and `dead_deliveries` (the dead letters, by endpoint and by application, with when they died).
 *   They replace the five partial indexes over `status` and `updated_at`.
 * - `deliveries` fills its pages to 45% (fillfactor), so that when every row of a page gets its outcome in one statement
 *   (a batch), each new version, about 20 bytes longer than the old, still fits on its page: a HOT update writes no
 *   index entry. At 50% a page's last rows moved to other pages. The table takes about twice the space it would full.
 * - The fan-out looks for a FIFO group's unfinished delivery in `open_deliveries`.
 */
export class Migration20261207900000_hot_delivery_updates extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "open_deliveries" (
      "delivery_id" text not null primary key,
      "application_id" text not null,
      "endpoint_id" text not null,
      "status" text not null,
      "created_at" timestamptz not null,
      "ordering_group" text null,
      "sequence" bigint null);`);
    this.addSql(
      'create index "open_deliveries_application_index" on "open_deliveries" ("application_id", "created_at") include ("endpoint_id", "status");',
    );
    this.addSql(
      'create index "open_deliveries_ordering_index" on "open_deliveries" ("ordering_group", "sequence") where "ordering_group" is not null;',
    );
    this.addSql(`create table "dead_deliveries" (
      "delivery_id" text not null primary key,
      "application_id" text not null,
      "endpoint_id" text not null,
      "dead_at" timestamptz not null);`);
    this.addSql('create index "dead_deliveries_endpoint_index" on "dead_deliveries" ("endpoint_id", "dead_at");');
    this.addSql(
      'create index "dead_deliveries_application_index" on "dead_deliveries" ("application_id", "delivery_id") include ("dead_at");',
    );
    this.addSql(`alter table "open_deliveries" set (${HOT_TABLE_AUTOVACUUM});`);
    this.addSql(
      `insert into "open_deliveries" select "id", "application_id", "endpoint_id", "status", "created_at", "ordering_group", "sequence"
       from "deliveries" where "status" in ('PENDING', 'FAILED');`,
    );
    this.addSql(
      `insert into "dead_deliveries" select "id", "application_id", "endpoint_id", "updated_at" from "deliveries" where "status" = 'DEAD';`,
    );
    this.addSql(TRIGGERS);
    this.addSql(FAN_OUT_EVENTS);
    for (const index of DROPPED_INDEXES) this.addSql(`drop index "${index.name}";`);
    this.addSql('alter table "deliveries" set (fillfactor = 45);');
  }

  override async down(): Promise<void> {
    this.addSql('alter table "deliveries" reset (fillfactor);');
    for (const index of DROPPED_INDEXES) this.addSql(index.create);
    this.addSql(PREVIOUS_FAN_OUT_EVENTS);
    this.addSql('drop trigger "deliveries_inserted" on "deliveries";');
    this.addSql('drop trigger "deliveries_updated" on "deliveries";');
    this.addSql('drop trigger "deliveries_deleted" on "deliveries";');
    this.addSql('drop function herald.deliveries_deleted();');
    this.addSql('drop function herald.deliveries_inserted();');
    this.addSql('drop function herald.deliveries_updated();');
    this.addSql('drop table "dead_deliveries";');
    this.addSql('drop table "open_deliveries";');
  }
}

/** The fan-out looks for a FIFO group's unfinished delivery in `open_deliveries`. */
export const FAN_OUT_EVENTS = replacedOnce(
  PREVIOUS_FAN_OUT_EVENTS,
  `not exists (select 1 from public.deliveries d
                                           where d.ordering_group = nb.ordering_group and d.status in ('PENDING', 'FAILED'))`,
  'not exists (select 1 from public.open_deliveries o where o.ordering_group = nb.ordering_group)',
);

const DROPPED_INDEXES = [
  {
    name: 'deliveries_not_succeeded_id_index',
    create: `create index "deliveries_not_succeeded_id_index" on "deliveries" ("status", "id") where "status" <> 'SUCCEEDED';`,
  },
  {
    name: 'deliveries_open_index',
    create: `create index "deliveries_open_index" on "deliveries" ("application_id", "created_at") include ("endpoint_id", "status") where "status" in ('PENDING', 'FAILED');`,
  },
  {
    name: 'deliveries_ordering_index',
    create: `create index "deliveries_ordering_index" on "deliveries" ("ordering_group", "sequence") where "ordering_group" is not null and "status" in ('PENDING', 'FAILED');`,
  },
  {
    name: 'deliveries_dead_index',
    create: `create index "deliveries_dead_index" on "deliveries" ("endpoint_id", "updated_at") where "status" = 'DEAD';`,
  },
  {
    name: 'deliveries_dead_application_index',
    create: `create index "deliveries_dead_application_index" on "deliveries" ("application_id", "id") include ("updated_at") where "status" = 'DEAD';`,
  },
];

/**
 * Statement triggers with transition tables: one set of writes per statement, not per row. Every status change is an
 * UPDATE of `deliveries` and every removal a DELETE (cascades from events and endpoints included), so the two sets
 * cannot drift from the statuses. The sets have no foreign key: its check would lock each new delivery's row.
 */
const TRIGGERS = `
create or replace function herald.deliveries_inserted() returns trigger
language plpgsql as $$
begin
  insert into public.open_deliveries (delivery_id, application_id, endpoint_id, status, created_at, ordering_group, sequence)
  select n.id, n.application_id, n.endpoint_id, n.status, n.created_at, n.ordering_group, n.sequence
    from inserted_rows n where n.status in ('PENDING', 'FAILED');
  insert into public.dead_deliveries (delivery_id, application_id, endpoint_id, dead_at)
  select n.id, n.application_id, n.endpoint_id, n.updated_at from inserted_rows n where n.status = 'DEAD';
  return null;
end;
$$;

-- The sets' rows are reached by key (= any(array(...))): a plan cached for a small batch must not scan a large backlog.
create or replace function herald.deliveries_updated() returns trigger
language plpgsql as $$
begin
  -- One statement: the rows whose status changed (none for a pause's time or a retry's schedule), read once, and
  -- each set's writes from them; the writes touch different rows.
  with changed as materialized (
    select n.id, n.application_id, n.endpoint_id, n.status, n.created_at, n.ordering_group, n.sequence, n.updated_at,
           o.status in ('PENDING', 'FAILED') as was_open, n.status in ('PENDING', 'FAILED') as is_open,
           o.status = 'DEAD' as was_dead, n.status = 'DEAD' as is_dead
      from old_rows o join new_rows n on n.id = o.id
     where n.status <> o.status
  ), closed as (
    delete from public.open_deliveries where delivery_id = any(array(select id from changed where was_open and not is_open))
  ), moved as (
    update public.open_deliveries od set status = c.status
      from changed c
     where od.delivery_id = any(array(select id from changed where was_open and is_open)) and c.id = od.delivery_id
  ), opened as (
    insert into public.open_deliveries (delivery_id, application_id, endpoint_id, status, created_at, ordering_group, sequence)
    select id, application_id, endpoint_id, status, created_at, ordering_group, sequence from changed where is_open and not was_open
  ), revived as (
    delete from public.dead_deliveries where delivery_id = any(array(select id from changed where was_dead and not is_dead))
  )
  insert into public.dead_deliveries (delivery_id, application_id, endpoint_id, dead_at)
  select id, application_id, endpoint_id, updated_at from changed where is_dead and not was_dead;
  return null;
end;
$$;

create or replace function herald.deliveries_deleted() returns trigger
language plpgsql as $$
begin
  delete from public.open_deliveries where delivery_id = any(array(
    select d.id from deleted_rows d where d.status in ('PENDING', 'FAILED')));
  delete from public.dead_deliveries where delivery_id = any(array(select d.id from deleted_rows d where d.status = 'DEAD'));
  return null;
end;
$$;

create trigger deliveries_inserted after insert on public.deliveries
  referencing new table as inserted_rows for each statement execute function herald.deliveries_inserted();
create trigger deliveries_updated after update on public.deliveries
  referencing old table as old_rows new table as new_rows for each statement execute function herald.deliveries_updated();
create trigger deliveries_deleted after delete on public.deliveries
  referencing old table as deleted_rows for each statement execute function herald.deliveries_deleted();
`;
