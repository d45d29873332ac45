import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, InputType } from 'type-graphql';

@InputType()
export class RegisterEventTypeInput {
  @Field({ description: 'The event type, for example `order.created`.' })
  name!: string;

  @Field({ description: 'What happened, for the people who receive it.' })
  description!: string;

  @Field(() => String, { nullable: true, description: 'The first version (default "1.0").' })
  version?: string;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'JSON Schema for `data`; omitted: payloads are not checked.' })
  schema?: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { description: 'A valid payload; it must satisfy the schema.' })
  example!: Record<string, unknown>;
}

@InputType()
export class AddEventTypeVersionInput {
  @Field({ description: 'An event type already in the catalog.' })
  name!: string;

  @Field({ description: 'A new version name, for example "2.0".' })
  version!: string;

  @Field(() => GraphQLJSONObject, { nullable: true })
  schema?: Record<string, unknown>;

  @Field(() => GraphQLJSONObject)
  example!: Record<string, unknown>;
}
