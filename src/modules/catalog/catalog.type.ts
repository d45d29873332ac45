import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ObjectType } from 'type-graphql';
import type { CatalogEntry, CatalogVersion } from './catalog.service';

@ObjectType('EventTypeVersion', { description: 'One version of a catalog event type; immutable once registered.' })
export class EventTypeVersionType {
  @Field({ description: 'Matches the `version` an event is published with (default "1.0").' })
  version!: string;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'JSON Schema that `data` must satisfy at publish; null: not checked.' })
  schema!: Record<string, unknown> | null;

  @Field(() => GraphQLJSONObject, { description: 'A valid `data` payload; `herald trigger` publishes it.' })
  example!: Record<string, unknown>;

  @Field()
  createdAt!: Date;

  static from(version: CatalogVersion): EventTypeVersionType {
    return Object.assign(new EventTypeVersionType(), version);
  }
}

@ObjectType('EventTypeDefinition', { description: 'A catalog entry: an event type, what it means, and its versions.' })
export class EventTypeDefinitionType {
  @Field({ description: 'The event type, for example `order.created`.' })
  name!: string;

  @Field()
  description!: string;

  @Field()
  deprecated!: boolean;

  @Field(() => Date, { nullable: true })
  deprecatedAt!: Date | null;

  @Field(() => String, { nullable: true, description: 'What to use instead, when deprecated.' })
  deprecationNote!: string | null;

  @Field(() => EventTypeVersionType, { description: 'The most recently registered version.' })
  latestVersion!: EventTypeVersionType;

  @Field(() => [EventTypeVersionType], { description: 'Oldest first.' })
  versions!: EventTypeVersionType[];

  @Field()
  createdAt!: Date;

  static from(entry: CatalogEntry): EventTypeDefinitionType {
    const versions = entry.versions.map((version) => EventTypeVersionType.from(version));
    return Object.assign(new EventTypeDefinitionType(), {
      name: entry.name,
      description: entry.description,
      deprecated: entry.deprecatedAt !== null,
      deprecatedAt: entry.deprecatedAt,
      deprecationNote: entry.deprecationNote,
      latestVersion: versions[versions.length - 1],
      versions,
      createdAt: entry.createdAt,
    });
  }
}
