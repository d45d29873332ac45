import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { PortalCapability } from './portal-capability';
import type { PortalSession } from './portal.service';

registerEnumType(PortalCapability, {
  name: 'PortalCapability',
  description: 'What a customer portal session may do (docs/portal.md).',
  valuesConfig: {
    ENDPOINTS_READ: { description: "List and read the application's endpoints and the event type catalog." },
    ENDPOINTS_WRITE: { description: 'Register, edit, enable, disable and delete endpoints, rotate their secrets.' },
    SECRETS_REVEAL: { description: 'See a signing secret once, when registered or rotated.' },
    SEND_TEST: { description: 'Send a test event to an endpoint.' },
    DELIVERIES_READ: { description: 'Browse deliveries, their attempts and events.' },
    DELIVERIES_RETRY: { description: 'Retry deliveries and replay dead letters.' },
  },
});

@ObjectType('PortalTheme')
export class PortalThemeType {
  @Field(() => String, { nullable: true })
  name!: string | null;

  @Field(() => String, { nullable: true })
  logoUrl!: string | null;

  @Field(() => String, { nullable: true })
  accentColor!: string | null;
}

@ObjectType('PortalSession', { description: "A customer portal session: one application's data, within its capabilities." })
export class PortalSessionType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  applicationId!: string;

  @Field(() => [PortalCapability])
  capabilities!: PortalCapability[];

  @Field(() => PortalThemeType)
  theme!: PortalThemeType;

  @Field()
  expiresAt!: Date;

  @Field()
  createdAt!: Date;

  static from(session: PortalSession): PortalSessionType {
    return Object.assign(new PortalSessionType(), {
      id: session.id,
      applicationId: session.applicationId,
      capabilities: session.capabilities,
      theme: Object.assign(new PortalThemeType(), session.theme),
      expiresAt: session.expiresAt,
      createdAt: session.createdAt,
    });
  }
}

@ObjectType('PortalSessionWithToken', { description: 'A new portal session: the only time its link and token are shown.' })
export class PortalSessionWithToken {
  @Field({
    description:
      'The portal link to open or put in an iframe: /portal with the token in its fragment (absolute when PORTAL_PUBLIC_URL is set). It works once.',
  })
  url!: string;

  @Field({ description: 'The one-time token (`hpt_...`) the link carries; the page exchanges it for its session on first load.' })
  token!: string;

  @Field()
  expiresAt!: Date;

  @Field(() => PortalSessionType)
  session!: PortalSessionType;
}
