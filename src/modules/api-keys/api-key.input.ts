import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class CreateApiKeyInput {
  @Field({ description: 'A name for people, 1 to 200 characters.' })
  name!: string;

  @Field(() => ID, { nullable: true, description: 'Set: a key limited to this application. Omitted: an admin key.' })
  applicationId?: string;

  @Field(() => Date, { nullable: true, description: 'When the key stops working. Omitted: never.' })
  expiresAt?: Date;
}
