import { Field, ID, InputType } from 'type-graphql';
import { DeliveryStatus } from '../../queue/delivery-status';

@InputType()
export class DeliveryFilter {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => ID, { nullable: true })
  endpointId?: string;

  @Field(() => ID, { nullable: true })
  eventId?: string;

  @Field(() => String, { nullable: true })
  eventType?: string;

  @Field(() => [DeliveryStatus], { nullable: true })
  status?: DeliveryStatus[];

  @Field(() => Date, { nullable: true })
  createdAfter?: Date;

  @Field(() => Date, { nullable: true })
  createdBefore?: Date;
}
