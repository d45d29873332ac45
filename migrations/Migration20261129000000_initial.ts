import { Migration } from '@mikro-orm/migrations';

export class Migration20261129000000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "applications" ("id" text not null, "name" text not null, "metadata" jsonb null, "created_at" timestamptz not null default now(), constraint "applications_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "endpoints" ("id" text not null, "application_id" text not null, "url" text not null, "description" text null, "event_types" text[] not null, "secret" text not null, "enabled" boolean not null default true, "disabled_reason" text null, "disabled_at" timestamptz null, "headers" jsonb not null, "metadata" jsonb null, "consecutive_dead_letters" int not null default 0, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "endpoints_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "endpoints_application_id_id_index" on "endpoints" ("application_id", "id");`);

    this.addSql(
      `create table "events" ("id" text not null, "application_id" text not null, "type" text not null, "version" text not null default '1.0', "payload" text not null, "idempotency_key" text null, "created_at" timestamptz not null default now(), constraint "events_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "events_application_id_id_index" on "events" ("application_id", "id");`);
    this.addSql(
      `alter table "events" add constraint "events_application_id_idempotency_key_unique" unique ("application_id", "idempotency_key");`,
    );

    this.addSql(
      `create table "deliveries" ("id" text not null, "event_id" text not null, "endpoint_id" text not null, "application_id" text not null, "event_type" text not null, "status" text check ("status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'DEAD')) not null default 'PENDING', "attempt_count" int not null default 0, "next_attempt_at" timestamptz null, "last_attempt_at" timestamptz null, "last_status_code" int null, "last_error_kind" text check ("last_error_kind" in ('TIMEOUT', 'DNS', 'CONNECT', 'RESET', 'TLS', 'HTTP_STATUS', 'BLOCKED', 'INVALID_RESPONSE')) null, "last_error" text null, "succeeded_at" timestamptz null, "created_at" timestamptz not null default now(), "updated_at" timestamptz not null default now(), constraint "deliveries_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "deliveries_status_id_index" on "deliveries" ("status", "id");`);
    this.addSql(`create index "deliveries_endpoint_id_id_index" on "deliveries" ("endpoint_id", "id");`);
    this.addSql(`create index "deliveries_application_id_id_index" on "deliveries" ("application_id", "id");`);
    this.addSql(`alter table "deliveries" add constraint "deliveries_event_id_endpoint_id_unique" unique ("event_id", "endpoint_id");`);

    this.addSql(
      `create table "delivery_attempts" ("id" text not null, "delivery_id" text not null, "number" int not null, "attempted_at" timestamptz not null, "url" text not null, "request_headers" jsonb not null, "response_status" int null, "response_body" text null, "response_body_truncated" boolean not null default false, "duration_ms" int not null, "error_kind" text check ("error_kind" in ('TIMEOUT', 'DNS', 'CONNECT', 'RESET', 'TLS', 'HTTP_STATUS', 'BLOCKED', 'INVALID_RESPONSE')) null, "error_message" text null, constraint "delivery_attempts_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "delivery_attempts" add constraint "delivery_attempts_delivery_id_number_unique" unique ("delivery_id", "number");`,
    );

    this.addSql(
      `alter table "endpoints" add constraint "endpoints_application_id_foreign" foreign key ("application_id") references "applications" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "events" add constraint "events_application_id_foreign" foreign key ("application_id") references "applications" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "deliveries" add constraint "deliveries_event_id_foreign" foreign key ("event_id") references "events" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "deliveries" add constraint "deliveries_endpoint_id_foreign" foreign key ("endpoint_id") references "endpoints" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "deliveries" add constraint "deliveries_application_id_foreign" foreign key ("application_id") references "applications" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "delivery_attempts" add constraint "delivery_attempts_delivery_id_foreign" foreign key ("delivery_id") references "deliveries" ("id") on update cascade on delete cascade;`,
    );

    // The default application, so that publishing and registering need no application id.
    this.addSql(`insert into "applications" ("id", "name") values ('app_default', 'Default application');`);
  }
}
