import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { redactHeaders } from '../../delivery/webhook-request';
import { ConnectionType } from '../../graphql/pagination';
import type { EndpointEntity } from './endpoint.entity';

@ObjectType('Endpoint', { description: 'A receiver URL of an application, with the event types it subscribes to.' })
export class EndpointType {
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  applicationId!: string;

  @Field()
  url!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => [String], { description: 'Event-type filters; `*` is a wildcard. Empty: every type.' })
  eventTypes!: string[];

  @Field(() => GraphQLJSONObject, {
    description: 'Catalog version pins, `{"order.created": "1.0"}`: only that version of each pinned type is delivered here.',
  })
  eventVersions!: Record<string, string>;

  @Field()
  enabled!: boolean;

  @Field(() => String, { nullable: true })
  disabledReason!: string | null;

  @Field(() => Date, { nullable: true })
  disabledAt!: Date | null;

  @Field(() => GraphQLJSONObject, {
    description: 'Custom headers sent with each delivery; credential-like values are shown as [redacted].',
  })
  headers!: Record<string, string>;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field(() => String, {
    nullable: true,
    description: 'The ed25519 public key (`whpk_...`) that verifies `v1a` signatures, when they are on.',
  })
  publicKey!: string | null;

  @Field(() => Date, {
    nullable: true,
    description: 'Until when deliveries are also signed with secrets replaced by a rotation; null when none is valid.',
  })
  previousSecretsValidUntil!: Date | null;

  @Field(() => Int, { description: 'Failed attempts in a row; a success resets it.' })
  consecutiveFailures!: number;

  @Field(() => Int, { description: 'Deliveries dead-lettered in a row; a success resets it.' })
  consecutiveDeadLetters!: number;

  @Field(() => Date, { nullable: true, description: 'When the current run of failures began; null while healthy.' })
  failingSince!: Date | null;

  @Field(() => Date, { nullable: true, description: 'Paused by a throttling answer (429, 502, 503, 504) until this time.' })
  throttledUntil!: Date | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Deliveries in flight at once across all workers; null: the global ENDPOINT_MAX_CONCURRENCY.',
  })
  maxConcurrency!: number | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Attempts started per second at most, across all workers (throttled ones wait as scheduled jobs); null: no limit.',
  })
  rateLimitPerSecond!: number | null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: "This endpoint's retry policy; null: the global one." })
  retryPolicy!: Record<string, unknown> | null;

  @Field({ description: 'FIFO: each delivery starts only after the previous one succeeded or was dead-lettered.' })
  ordered!: boolean;

  @Field({
    description: 'Paused (pauseEndpoint): its deliveries wait, without attempts, until resumeEndpoint; events still fan out to it.',
  })
  paused!: boolean;

  @Field(() => Date, { nullable: true, description: 'When it was paused; null while not paused.' })
  pausedAt!: Date | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  static from(entity: EndpointEntity): EndpointType {
    return Object.assign(new EndpointType(), {
      id: entity.id,
      applicationId: entity.application.id,
      url: entity.url,
      description: entity.description,
      eventTypes: entity.eventTypes,
      eventVersions: entity.eventVersions,
      enabled: entity.enabled,
      disabledReason: entity.disabledReason,
      disabledAt: entity.disabledAt,
      headers: redactHeaders(entity.headers),
      metadata: entity.metadata,
      consecutiveFailures: entity.consecutiveFailures,
      consecutiveDeadLetters: entity.consecutiveDeadLetters,
      failingSince: entity.failingSince,
      throttledUntil: entity.throttledUntil,
      maxConcurrency: entity.maxConcurrency,
      rateLimitPerSecond: entity.rateLimitPerSecond,
      retryPolicy: entity.retryPolicy as Record<string, unknown> | null,
      ordered: entity.ordered,
      paused: entity.pausedAt !== null,
      pausedAt: entity.pausedAt,
      publicKey: entity.publicKey,
      previousSecretsValidUntil: latestExpiry(entity.previousSecrets.map((previous) => previous.expiresAt)),
      createdAt: entity.createdAt,
      updatedAt: entity.updatedAt,
    });
  }
}

function latestExpiry(expiries: string[]): Date | null {
  const now = Date.now();
  const latest = Math.max(...expiries.map((expiry) => Date.parse(expiry)).filter((time) => time > now));
  return Number.isFinite(latest) ? new Date(latest) : null;
}

@ObjectType()
export class EndpointConnection extends ConnectionType(EndpointType, 'Endpoint') {}

@ObjectType({ description: 'An endpoint and its signing secret: the only time the secret is shown.' })
export class EndpointWithSecret {
  @Field(() => EndpointType)
  endpoint!: EndpointType;

  @Field({ description: 'The signing secret (`whsec_...`). Store it now: it is never listed again.' })
  secret!: string;
}

export const EndpointStatus = { ENABLED: 'ENABLED', DISABLED: 'DISABLED' } as const;
export type EndpointStatus = (typeof EndpointStatus)[keyof typeof EndpointStatus];
registerEnumType(EndpointStatus, { name: 'EndpointStatusChangeKind' });

@ObjectType({ description: 'An endpoint was disabled (by a user or by its health rules) or enabled again.' })
export class EndpointStatusChange {
  @Field(() => EndpointType)
  endpoint!: EndpointType;

  @Field(() => EndpointStatus)
  change!: EndpointStatus;

  @Field(() => String, { nullable: true })
  reason!: string | null;
}
