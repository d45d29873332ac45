import { Migration } from '@mikro-orm/migrations';
import { HOT_TABLE_AUTOVACUUM } from '../src/db/autovacuum';

/**
 * The tables rewritten for every delivery are vacuumed after a fixed number of dead rows rather than a fifth of
 * the table, without cost-based pauses: their dead rows otherwise pile up for minutes under load and every
 * delivery load and slot count walks past them. graphile-worker's job table gets the same after its own
 * migrations (src/db/database.ts), since it does not exist yet when Herald's migrations first run.
 */
export class Migration20261130200000_autovacuum extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table deliveries set (${HOT_TABLE_AUTOVACUUM});`);
    this.addSql(`alter table endpoint_inflight set (${HOT_TABLE_AUTOVACUUM});`);
  }

  override async down(): Promise<void> {
    this.addSql(
      'alter table deliveries reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);',
    );
    this.addSql(
      'alter table endpoint_inflight reset (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);',
    );
  }
}
