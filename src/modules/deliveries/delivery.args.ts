import { ArgsType, Field, ID } from 'type-graphql';
import { DeliveryStatus } from '../../queue/delivery-status';

@ArgsType()
export class DeliveryUpdatedArgs {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => ID, { nullable: true })
  endpointId?: string;

  @Field(() => ID, { nullable: true })
  eventId?: string;

  @Field(() => [DeliveryStatus], { nullable: true, description: 'Only changes to one of these statuses.' })
  status?: DeliveryStatus[];
}
