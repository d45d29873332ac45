import { Migration } from '@mikro-orm/migrations';

/**
 * `endpoint_inflight` is UNLOGGED: a row there is an endpoint slot held while one attempt runs (inserted by its start,
 * deleted by its record), and it wrote about 450 bytes of WAL per delivery, a tenth of the whole. After a PostgreSQL
 * crash the table is empty (and a standby has none): the attempts then in flight no longer count against their
 * endpoints' max_concurrency until they are recorded, at most DELIVERY_TIMEOUT_MS later. A clean shutdown keeps it.
 */
export class Migration20261208100000_unlogged_leases extends Migration {
  override async up(): Promise<void> {
    this.addSql('alter table "endpoint_inflight" set unlogged;');
  }

  override async down(): Promise<void> {
    this.addSql('alter table "endpoint_inflight" set logged;');
  }
}
