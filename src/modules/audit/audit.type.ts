import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { ConnectionType } from '../../graphql/pagination';
import type { AuditActorKind, AuditEntry } from './audit.service';

export enum AuditActorKindEnum {
  ADMIN = 'ADMIN',
  APPLICATION = 'APPLICATION',
  PORTAL = 'PORTAL',
  SYSTEM = 'SYSTEM',
}

registerEnumType(AuditActorKindEnum, {
  name: 'AuditActorKind',
  valuesConfig: {
    ADMIN: { description: 'An admin API key.' },
    APPLICATION: { description: 'An application API key.' },
    PORTAL: { description: 'A customer portal session.' },
    SYSTEM: { description: 'Herald itself (the CLI, start-up, background jobs).' },
  },
});

@ObjectType('AuditActor', { description: 'Who made a change.' })
export class AuditActorType {
  @Field(() => ID, { description: 'The API key id, the portal session id, or `system`.' })
  id!: string;

  @Field(() => AuditActorKindEnum)
  kind!: AuditActorKind;
}

@ObjectType('AuditEntry', { description: 'One configuration change: who, when, in which request, what and to what. Never a secret.' })
export class AuditEntryType {
  @Field(() => ID)
  id!: string;

  @Field()
  createdAt!: Date;

  @Field(() => String, { nullable: true, description: 'The request id (the `x-request-id` response header); null for Herald itself.' })
  requestId!: string | null;

  @Field(() => AuditActorType)
  actor!: AuditActorType;

  @Field(() => String, { description: 'What was done, as `<target type>.<verb>`, for example `endpoint.secret_rotated`.' })
  action!: string;

  @Field(() => String, { description: 'endpoint, application, api_key, source, event_type, portal_session or replay.' })
  targetType!: string;

  @Field(() => ID)
  targetId!: string;

  @Field(() => ID, {
    nullable: true,
    description: 'The application the target belongs to; null for API-wide ones (admin keys, the catalog).',
  })
  applicationId!: string | null;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: 'The target before the change (null when created); secrets show as "[redacted]".',
  })
  before!: Record<string, unknown> | null;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: 'The target after the change (null when deleted); secrets show as "[redacted]".',
  })
  after!: Record<string, unknown> | null;

  static from(entry: AuditEntry): AuditEntryType {
    return Object.assign(new AuditEntryType(), { ...entry, actor: Object.assign(new AuditActorType(), entry.actor) });
  }
}

export const AuditEntryConnection = ConnectionType(AuditEntryType, 'AuditEntry');
