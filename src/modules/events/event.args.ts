import { ArgsType, Field, ID } from 'type-graphql';

@ArgsType()
export class EventPublishedArgs {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => String, { nullable: true })
  type?: string;
}
