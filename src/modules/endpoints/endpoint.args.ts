import { ArgsType, Field, ID } from 'type-graphql';

@ArgsType()
export class EndpointStatusChangedArgs {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => ID, { nullable: true })
  endpointId?: string;
}
