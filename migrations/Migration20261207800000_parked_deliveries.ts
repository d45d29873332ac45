import { Migration } from '@mikro-orm/migrations';
import { HOT_TABLE_AUTOVACUUM } from '../src/db/autovacuum';

/**
 * A parked delivery (waiting, with no job, for a free slot of its endpoint or for the endpoint to be resumed) is a row
 * of `parked_deliveries`, not a `parked_at` on its `deliveries` row. Parking and waking rewrote the whole delivery
 * row with an entry in each of its seven indexes (no update of `deliveries` is HOT), about 1 KB of WAL each; under
 * overload every other delivery parks once. A row here is a small insert when it parks and a delete when it wakes.
 */
export class Migration20261207800000_parked_deliveries extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "parked_deliveries" (
      "delivery_id" text not null primary key references "deliveries" ("id") on delete cascade,
      "endpoint_id" text not null,
      "parked_at" timestamptz not null default now());`);
    this.addSql('create index "parked_deliveries_endpoint_index" on "parked_deliveries" ("endpoint_id", "parked_at", "delivery_id");');
    this.addSql(`alter table "parked_deliveries" set (${HOT_TABLE_AUTOVACUUM});`);
    this.addSql(
      `insert into "parked_deliveries" ("delivery_id", "endpoint_id", "parked_at")
       select "id", "endpoint_id", "parked_at" from "deliveries" where "parked_at" is not null;`,
    );
    this.addSql('drop index "deliveries_parked_index";');
    this.addSql('alter table "deliveries" drop column "parked_at";');
  }

  override async down(): Promise<void> {
    this.addSql('alter table "deliveries" add column "parked_at" timestamptz null;');
    this.addSql('update "deliveries" d set "parked_at" = p."parked_at" from "parked_deliveries" p where p."delivery_id" = d."id";');
    this.addSql('create index "deliveries_parked_index" on "deliveries" ("endpoint_id", "parked_at", "id") where "parked_at" is not null;');
    this.addSql('drop table "parked_deliveries";');
  }
}
