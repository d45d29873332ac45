import { Migration } from '@mikro-orm/migrations';

/**
 * Index entries no query needs on the path every delivery takes (docs/performance.md, "Where the time goes"): each
 * entry is a WAL record and a page write on every insert and on every update of a delivery, none of which is HOT.
 *
 * - `deliveries_status_id_index` (status, id) took an entry when a delivery was created and another when it succeeded,
 *   so that lists of deliveries by status could walk it. A list of succeeded deliveries walks the primary key or the
 *   application's index instead (nearly every delivery has succeeded, the newest first), so
 *   `deliveries_not_succeeded_id_index` holds the other states only: a delivery that succeeds writes no second entry.
 * - `delivery_attempts_pkey` (id): no query looks an attempt up by id. Attempts are read by delivery, in order, which
 *   the (delivery_id, number) key answers; it becomes the primary key, and an attempt takes one index entry, not two.
 */
export class Migration20261207700000_fewer_index_writes_per_delivery extends Migration {
  override async up(): Promise<void> {
    this.addSql('drop index "deliveries_status_id_index";');
    this.addSql(`create index "deliveries_not_succeeded_id_index" on "deliveries" ("status", "id") where "status" <> 'SUCCEEDED';`);
    this.addSql('alter table "delivery_attempts" drop constraint "delivery_attempts_pkey";');
    this.addSql('alter table "delivery_attempts" drop constraint "delivery_attempts_delivery_id_number_unique";');
    this.addSql('alter table "delivery_attempts" add constraint "delivery_attempts_pkey" primary key ("delivery_id", "number");');
  }

  override async down(): Promise<void> {
    this.addSql('alter table "delivery_attempts" drop constraint "delivery_attempts_pkey";');
    this.addSql(
      'alter table "delivery_attempts" add constraint "delivery_attempts_delivery_id_number_unique" unique ("delivery_id", "number");',
    );
    this.addSql('alter table "delivery_attempts" add constraint "delivery_attempts_pkey" primary key ("id");');
    this.addSql('drop index "deliveries_not_succeeded_id_index";');
    this.addSql('create index "deliveries_status_id_index" on "deliveries" ("status", "id");');
  }
}
