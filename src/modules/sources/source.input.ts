import { Field, ID, InputType } from 'type-graphql';
import type { InboundScheme } from '../../delivery/inbound-signature';
import { InboundSchemeEnum } from './source.type';

@InputType()
export class CreateSourceInput {
  @Field()
  name!: string;

  @Field(() => InboundSchemeEnum)
  scheme!: InboundScheme;

  @Field(() => ID, { nullable: true, description: 'The application its events are published to (default application if omitted).' })
  applicationId?: string;

  @Field(() => String, { nullable: true, description: "The provider's signing secret; omitted: one is generated." })
  secret?: string;

  @Field(() => String, { nullable: true, description: 'HMAC scheme: the header holding the signature (default X-Signature).' })
  hmacHeader?: string;

  @Field(() => String, { nullable: true, description: 'Header holding the event type (GITHUB default: X-GitHub-Event).' })
  eventTypeHeader?: string;

  @Field(() => String, {
    nullable: true,
    description: 'Dotted JSON path to the event type in the body (STRIPE and STANDARD_WEBHOOKS default: "type").',
  })
  eventTypePath?: string;

  @Field(() => String, { nullable: true, description: 'Put before the found type (GITHUB default "github.", STRIPE default "stripe.").' })
  eventTypePrefix?: string;

  @Field(() => String, { nullable: true, description: 'Used when the request carries no type.' })
  defaultEventType?: string;
}
