import { Migration } from '@mikro-orm/migrations';

/**
 * The audit log (src/modules/audit): one row per configuration change, written in the change's own transaction,
 * with the actor, the request id, the target and the change (before and after, secrets redacted). No foreign keys:
 * an entry outlives what it describes (a deleted endpoint's deletion stays on record); retention purges it by age.
 */
export class Migration20261207400000_audit_log extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table audit_log (
      id text primary key,
      created_at timestamptz not null default now(),
      request_id text,
      actor_id text not null,
      actor_kind text not null,
      action text not null,
      target_type text not null,
      target_id text not null,
      application_id text,
      before jsonb,
      after jsonb
    );`);
    // Ids sort by creation, so each filter's index ends with the id: newest first, paged by id.
    this.addSql('create index audit_log_application_idx on audit_log (application_id, id);');
    this.addSql('create index audit_log_action_idx on audit_log (action, id);');
    this.addSql('create index audit_log_target_idx on audit_log (target_id, id);');
    this.addSql('create index audit_log_actor_idx on audit_log (actor_id, id);');
    this.addSql('create index audit_log_created_at_idx on audit_log (created_at);');
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists audit_log;');
  }
}
