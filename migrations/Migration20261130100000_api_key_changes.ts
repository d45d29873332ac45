import { Migration } from '@mikro-orm/migrations';

/**
 * Every process keeps the API keys it verified recently (src/modules/api-keys/verified-key-cache.ts);
 * this trigger tells them all when a key changes or goes, whichever process or tool changed it, on the
 * channel the change feed already listens to. `last_used_at` alone is not a change worth hearing.
 */
export class Migration20261130100000_api_key_changes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create function herald_api_key_changed() returns trigger language plpgsql as $$
      begin
        perform pg_notify('herald_changes', json_build_object('kind', 'api-key', 'keyId', old.id)::text);
        return null;
      end $$;`);
    this.addSql(`create trigger api_keys_changed
      after update of key_hash, kind, application_id, name, expires_at, revoked_at or delete on api_keys
      for each row execute function herald_api_key_changed();`);
  }

  override async down(): Promise<void> {
    this.addSql('drop trigger if exists api_keys_changed on api_keys;');
    this.addSql('drop function if exists herald_api_key_changed();');
  }
}
