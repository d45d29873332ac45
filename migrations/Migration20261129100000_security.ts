import { Migration } from '@mikro-orm/migrations';

/**
 * API keys, secret rotation and ed25519 signing keys. Endpoint secrets stored in plain text by the
 * initial migration cannot be encrypted here (the key lives outside the database): Herald encrypts any
 * plain-text secret at start, right after migrating (EndpointSecrets.encryptPlaintextSecrets).
 */
export class Migration20261129100000_security extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "api_keys" ("id" text not null, "name" text not null, "kind" text check ("kind" in ('ADMIN', 'APPLICATION')) not null, "application_id" text null, "prefix" text not null, "key_hash" text not null, "created_at" timestamptz not null default now(), "expires_at" timestamptz null, "revoked_at" timestamptz null, "last_used_at" timestamptz null, constraint "api_keys_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "api_keys" add constraint "api_keys_prefix_unique" unique ("prefix");`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_key_hash_unique" unique ("key_hash");`);
    this.addSql(
      `alter table "api_keys" add constraint "api_keys_application_id_foreign" foreign key ("application_id") references "applications" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "api_keys" add constraint "api_keys_kind_application_check" check (("kind" = 'ADMIN') = ("application_id" is null));`,
    );

    this.addSql(`alter table "endpoints" add column "previous_secrets" jsonb not null default '[]';`);
    this.addSql(`alter table "endpoints" add column "signing_key" text null;`);
    this.addSql(`alter table "endpoints" add column "public_key" text null;`);
  }
}
