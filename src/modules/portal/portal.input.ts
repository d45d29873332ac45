import { Field, ID, InputType, Int } from 'type-graphql';
import { PortalCapability } from './portal-capability';
import { PORTAL_DEFAULT_EXPIRES_IN_SECONDS, PORTAL_MAX_EXPIRES_IN_SECONDS, PORTAL_MIN_EXPIRES_IN_SECONDS } from './portal.service';

@InputType({ description: "How the portal looks: your customer sees your product's name, logo and colour." })
export class PortalThemeInput {
  @Field(() => String, { nullable: true, description: 'Shown as the page title, up to 100 characters.' })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'An https:// URL, or a data:image/...;base64 URL (at most 64 KiB).' })
  logoUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'Buttons and links, as #rrggbb.' })
  accentColor?: string | null;
}

@InputType()
export class CreatePortalSessionInput {
  @Field(() => ID, { description: 'The application whose endpoints and deliveries the portal shows, and only those.' })
  applicationId!: string;

  @Field(() => [PortalCapability], { description: 'What the session may do; the API refuses anything else.' })
  capabilities!: PortalCapability[];

  @Field(() => Int, {
    nullable: true,
    description: `Seconds until the link and the session end: ${PORTAL_MIN_EXPIRES_IN_SECONDS} to ${PORTAL_MAX_EXPIRES_IN_SECONDS} (default ${PORTAL_DEFAULT_EXPIRES_IN_SECONDS}).`,
  })
  expiresIn?: number | null;

  @Field(() => PortalThemeInput, { nullable: true })
  theme?: PortalThemeInput | null;
}
