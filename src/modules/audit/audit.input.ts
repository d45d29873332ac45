import { Field, ID, InputType } from 'type-graphql';

@InputType({ description: 'Which audit entries to list; every field narrows the list.' })
export class AuditLogFilter {
  @Field(() => ID, {
    nullable: true,
    description: "Entries about this application's resources (admin keys; an application key sees only its own).",
  })
  applicationId?: string;

  @Field(() => String, { nullable: true, description: 'One action, for example `endpoint.updated`.' })
  action?: string;

  @Field(() => ID, { nullable: true, description: 'Entries about this target (an endpoint id, an API key id, an event type name...).' })
  targetId?: string;

  @Field(() => ID, { nullable: true, description: 'Changes made by this API key or portal session (`system`: by Herald itself).' })
  actorId?: string;

  @Field(() => Date, { nullable: true, description: 'Entries recorded after this time.' })
  after?: Date;

  @Field(() => Date, { nullable: true, description: 'Entries recorded before this time.' })
  before?: Date;
}
