import { Migration } from '@mikro-orm/migrations';
import { OPERATOR_EVENT_TYPES } from '../src/modules/catalog/operator-catalog';

/**
 * Operator events (src/queue/operator-events.ts): their catalog types, and the last one sent per endpoint and type,
 * which the suppression window reads and writes under the row's lock so every worker agrees. No foreign key to
 * endpoints, like the health and rollup tables: the check would lock the endpoint row in the attempt's transaction in
 * the reverse order of deleteEndpoint's cascade; a deleted endpoint's rows stay (one per type at most).
 */
export class Migration20261207300000_operator_events extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table "operator_event_state" (
      "endpoint_id" text not null,
      "type" text not null,
      "last_sent_at" timestamptz not null,
      "suppressed" integer not null default 0,
      "carried" integer not null default 0,
      "sent" boolean not null default true,
      constraint "operator_event_state_pkey" primary key ("endpoint_id", "type"));`);
    for (const type of OPERATOR_EVENT_TYPES) {
      // A type of the same name a user registered first is left as it is.
      this.addSql(
        `insert into "event_types" ("name", "description") values (${literal(type.name)}, ${literal(type.description)}) on conflict do nothing;`,
      );
      this.addSql(
        `insert into "event_type_versions" ("id", "event_type", "version", "schema", "example") values (${literal(`etv_${type.name}@${type.version}`)}, ${literal(type.name)}, ${literal(type.version)}, ${literal(JSON.stringify(type.schema))}::jsonb, ${literal(JSON.stringify(type.example))}) on conflict do nothing;`,
      );
    }
  }

  override async down(): Promise<void> {
    this.addSql('drop table if exists "operator_event_state";');
    const names = OPERATOR_EVENT_TYPES.map((type) => literal(type.name)).join(', ');
    this.addSql(
      `delete from "event_type_versions" where "id" in (${OPERATOR_EVENT_TYPES.map((type) => literal(`etv_${type.name}@${type.version}`)).join(', ')});`,
    );
    this.addSql(
      `delete from "event_types" t where t."name" in (${names}) and not exists (select 1 from "event_type_versions" v where v."event_type" = t."name");`,
    );
  }
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
