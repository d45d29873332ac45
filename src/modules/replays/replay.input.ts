import { Field, ID, InputType } from 'type-graphql';
import { AttemptErrorKind } from '../../delivery/attempt-outcome';

@InputType({
  description:
    'Which dead letters to replay. Every field is optional; they combine with AND. The time range is when the delivery was dead-lettered.',
})
export class ReplayDeadLettersInput {
  @Field(() => ID, { nullable: true, description: "Admin keys: only this application's dead letters (default: all)." })
  applicationId?: string;

  @Field(() => ID, { nullable: true })
  endpointId?: string;

  @Field(() => String, { nullable: true, description: 'An exact event type, such as "order.created".' })
  eventType?: string;

  @Field(() => Date, { nullable: true, description: 'Dead-lettered at or after this time.' })
  from?: Date;

  @Field(() => Date, { nullable: true, description: 'Dead-lettered before this time.' })
  to?: Date;

  @Field(() => AttemptErrorKind, { nullable: true, description: 'The error kind of the last attempt.' })
  errorKind?: AttemptErrorKind;
}
