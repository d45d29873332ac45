import { Migration } from '@mikro-orm/migrations';

/**
 * Pausing an endpoint (pauseEndpoint / resumeEndpoint) and cancelling its backlog (cancelPendingDeliveries).
 * - `endpoints.paused_at`: set while paused; the worker parks the endpoint's deliveries without an attempt.
 * - `deliveries.paused_ms`: how long a delivery waited on a paused endpoint, added on resume, so its retry policy's
 *   maximum age does not run out while paused. A constant default adds the column without rewriting the table.
 * - The status CANCELLED: a delivery cancelled before it finished, kept as a record.
 * The endpoint's waiting count reads the existing partial index of open deliveries (deliveries_open_index).
 */
export class Migration20261207100000_pause extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "endpoints" add column "paused_at" timestamptz null;`);
    this.addSql(`alter table "deliveries" add column "paused_ms" bigint not null default 0;`);
    // NOT VALID then VALIDATE: the check of the existing rows does not block writes to the table while it runs.
    this.addSql(`alter table "deliveries" drop constraint "deliveries_status_check";`);
    this.addSql(
      `alter table "deliveries" add constraint "deliveries_status_check" check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'DEAD', 'CANCELLED')) not valid;`,
    );
    this.addSql(`alter table "deliveries" validate constraint "deliveries_status_check";`);
  }

  override async down(): Promise<void> {
    this.addSql(`update "deliveries" set "status" = 'DEAD' where "status" = 'CANCELLED';`);
    this.addSql(`alter table "deliveries" drop constraint "deliveries_status_check";`);
    this.addSql(
      `alter table "deliveries" add constraint "deliveries_status_check" check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'DEAD'));`,
    );
    this.addSql(`alter table "deliveries" drop column "paused_ms";`);
    this.addSql(`alter table "endpoints" drop column "paused_at";`);
  }
}
