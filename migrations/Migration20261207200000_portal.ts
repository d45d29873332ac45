import { Migration } from '@mikro-orm/migrations';

/**
 * Customer portal sessions (src/modules/portal): an admin hands a customer a short-lived URL whose one-time token is
 * exchanged, on the page's first load, for a session credential. Only SHA-256 hashes of both are stored; the
 * credential's hash is set by the exchange, which also makes the token unusable.
 */
export class Migration20261207200000_portal extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table portal_sessions (
      id text primary key,
      application_id text not null references applications (id) on delete cascade,
      token_hash text not null unique,
      session_hash text unique,
      capabilities text[] not null,
      theme jsonb not null default '{}',
      expires_at timestamptz not null,
      exchanged_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz not null default now(),
      last_used_at timestamptz
    );`);
    this.addSql('create index portal_sessions_application_idx on portal_sessions (application_id) where revoked_at is null;');
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists portal_sessions;');
  }
}
