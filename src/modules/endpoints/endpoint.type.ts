import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
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

  @Field(() => Int, { description: 'Deliveries dead-lettered in a row; a success resets it.' })
  consecutiveFailures!: number;

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
      consecutiveFailures: entity.consecutiveDeadLetters,
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

@InputType()
export class RegisterEndpointInput {
  @Field({ description: 'Where deliveries are POSTed: an http:// or https:// URL.' })
  url!: string;

  @Field(() => ID, { nullable: true, description: 'Defaults to the default application.' })
  applicationId?: string;

  @Field(() => String, { nullable: true })
  description?: string;

  @Field(() => [String], { nullable: true, description: 'Event types to receive (`order.*` wildcards). Omitted or empty: all.' })
  eventTypes?: string[];

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description: 'Pin catalog types to a version, `{"order.created": "1.0"}`: newer versions of them are not delivered here.',
  })
  eventVersions?: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Extra headers sent with every delivery.' })
  headers?: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata?: Record<string, unknown>;

  @Field(() => String, { nullable: true, description: 'Your own `whsec_` secret (24 to 64 bytes, base64). Omitted: Herald generates one.' })
  secret?: string;

  @Field(() => Boolean, {
    nullable: true,
    description: 'Also sign with ed25519 (`v1a`); the public key to verify with is published as `Endpoint.publicKey`.',
  })
  asymmetricSignatures?: boolean;
}

@InputType()
export class UpdateEndpointInput {
  @Field(() => String, { nullable: true })
  url?: string;

  @Field(() => String, { nullable: true })
  description?: string;

  @Field(() => [String], { nullable: true })
  eventTypes?: string[];

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Replaces the version pins; `{}` removes them all.' })
  eventVersions?: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { nullable: true })
  headers?: Record<string, unknown>;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata?: Record<string, unknown>;
}

@InputType()
export class EndpointFilter {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean;
}
