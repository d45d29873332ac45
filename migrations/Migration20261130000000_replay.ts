import { Migration } from '@mikro-orm/migrations';

/**
 * Bulk redrive of dead letters and per-endpoint rate limits.
 *
 * `replays` records each replayDeadLetters run: its filter, the moment its set was frozen (`frozen_at`:
 * only deliveries dead-lettered at or before it are replayed, so one that dies again during the replay is
 * not picked up a second time), the id it has reached (`cursor`) and its progress.
 *
 * `endpoint_rate_slots` holds, per rate-limited endpoint, when the next attempt may start (`tat`) and the
 * next free slot for attempts that wait (`next_slot`); every worker updates it with one atomic upsert
 * (src/modules/deliveries/endpoint-rate-limit.ts; `admitted` is that upsert's answer).
 * `endpoints.rate_limit_per_second` null (the default) means no limit.
 */
export class Migration20261130000000_replay extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "endpoints" add column "rate_limit_per_second" int null;`);

    this.addSql(`create table "endpoint_rate_slots" (
      "endpoint_id" text not null primary key references "endpoints" ("id") on delete cascade,
      "tat" timestamptz not null,
      "next_slot" timestamptz not null,
      "admitted" boolean not null);`);

    this.addSql(`create table "replays" (
      "id" text not null primary key,
      "application_id" text null references "applications" ("id") on delete cascade,
      "status" text not null check ("status" in ('RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED')),
      "endpoint_id" text null,
      "event_type" text null,
      "error_kind" text null,
      "dead_from" timestamptz null,
      "dead_to" timestamptz null,
      "frozen_at" timestamptz not null,
      "cursor" text null,
      "matched" int not null,
      "requeued" int not null default 0,
      "error" text null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "finished_at" timestamptz null);`);
    this.addSql(`create index "replays_application_id_id_index" on "replays" ("application_id", "id");`);
    // Dead letters of an application in id order: what a replay without an endpoint walks.
    this.addSql(
      `create index "deliveries_dead_application_index" on "deliveries" ("application_id", "id") include ("updated_at") where "status" = 'DEAD';`,
    );
  }
}
