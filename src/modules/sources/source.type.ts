import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { InboundScheme } from '../../delivery/inbound-signature';
import type { Source } from './source.service';

export const InboundSchemeEnum = { STANDARD_WEBHOOKS: 'STANDARD_WEBHOOKS', GITHUB: 'GITHUB', STRIPE: 'STRIPE', HMAC: 'HMAC' } as const;

registerEnumType(InboundSchemeEnum, {
  name: 'InboundScheme',
  description: 'How the third party signs its webhooks.',
  valuesConfig: {
    STANDARD_WEBHOOKS: { description: 'webhook-id, webhook-timestamp, webhook-signature (v1) with a whsec_ secret.' },
    GITHUB: { description: 'X-Hub-Signature-256: sha256=<hex HMAC of the body>; the type from X-GitHub-Event.' },
    STRIPE: { description: 'Stripe-Signature: t=<time>,v1=<hex HMAC of "t.body">; the type from the body\'s "type".' },
    HMAC: { description: 'A hex or base64 HMAC-SHA256 of the body in a header of your choice (default X-Signature).' },
  },
});

@ObjectType('Source', { description: 'A receiver for third-party webhooks: POST them to /ingest/<id>.' })
export class SourceType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  applicationId!: string;

  @Field()
  name!: string;

  @Field(() => InboundSchemeEnum)
  scheme!: InboundScheme;

  @Field({ description: "The path to give the third party, relative to Herald's URL: `/ingest/<id>`." })
  ingestPath!: string;

  @Field(() => String, { nullable: true })
  hmacHeader!: string | null;

  @Field(() => String, { nullable: true })
  eventTypeHeader!: string | null;

  @Field(() => String, { nullable: true })
  eventTypePath!: string | null;

  @Field()
  eventTypePrefix!: string;

  @Field(() => String, { nullable: true })
  defaultEventType!: string | null;

  @Field()
  createdAt!: Date;

  static from(source: Source): SourceType {
    return Object.assign(new SourceType(), { ...source, ingestPath: `/ingest/${source.id}` });
  }
}

@ObjectType('SourceWithSecret', { description: 'A source and its verification secret: the only time the secret is shown.' })
export class SourceWithSecretType {
  @Field(() => SourceType)
  source!: SourceType;

  @Field()
  secret!: string;
}
