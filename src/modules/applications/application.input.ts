import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, InputType } from 'type-graphql';

@InputType()
export class CreateApplicationInput {
  @Field({ description: 'A name for people, 1 to 200 characters.' })
  name!: string;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata?: Record<string, unknown>;
}
