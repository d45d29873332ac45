import { Migration } from '@mikro-orm/migrations';

/**
 * Delivery reliability: endpoint health and per-endpoint settings, FIFO ordering, the per-endpoint
 * in-flight table (the concurrency limit shared by every worker), worker heartbeats (crash recovery).
 */
export class Migration20261129200000_reliability extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "endpoints"
      add column "consecutive_failures" int not null default 0,
      add column "failing_since" timestamptz null,
      add column "throttled_until" timestamptz null,
      add column "max_concurrency" int null,
      add column "retry_policy" jsonb null,
      add column "ordered" boolean not null default false;`);

    this.addSql(`alter table "events" add column "ordering_key" text null;`);

    this.addSql(`alter table "deliveries"
      add column "parked_at" timestamptz null,
      add column "ordering_group" text null,
      add column "sequence" bigint null;`);
    // Parked deliveries wait for a free slot of their endpoint; ordered ones for their predecessor.
    this.addSql(`create index "deliveries_parked_index" on "deliveries" ("endpoint_id", "parked_at", "id") where "parked_at" is not null;`);
    this.addSql(
      `create index "deliveries_ordering_index" on "deliveries" ("ordering_group", "sequence") where "ordering_group" is not null and "status" in ('PENDING', 'FAILED');`,
    );
    this.addSql(`create index "deliveries_dead_index" on "deliveries" ("endpoint_id", "updated_at") where "status" = 'DEAD';`);
    this.addSql(`create index "events_created_at_index" on "events" ("created_at");`);

    this.addSql(`create table "endpoint_inflight" (
      "delivery_id" text not null primary key references "deliveries" ("id") on delete cascade,
      "endpoint_id" text not null references "endpoints" ("id") on delete cascade,
      "pool_id" text not null,
      "started_at" timestamptz not null default now());`);
    this.addSql(`create index "endpoint_inflight_endpoint_index" on "endpoint_inflight" ("endpoint_id");`);
    this.addSql(`create index "endpoint_inflight_pool_index" on "endpoint_inflight" ("pool_id");`);

    this.addSql(`create table "worker_heartbeats" (
      "pool_id" text not null primary key,
      "host" text not null,
      "pid" int not null,
      "started_at" timestamptz not null default now(),
      "last_seen_at" timestamptz not null default now());`);

    this.addSql(`create table "ordering_sequences" (
      "ordering_group" text not null primary key,
      "last_sequence" bigint not null);`);
  }
}
