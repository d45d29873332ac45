import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, Float, ID, InputType, Int } from 'type-graphql';
import { MAX_RATE_LIMIT_PER_SECOND } from './rate-limit-input';

@InputType({ description: 'A retry policy: a preset, optionally with parts replaced. Give delaysMs or the exponential fields, not both.' })
export class RetryPolicyInput {
  @Field(() => String, {
    nullable: true,
    description: '"standard" (the default schedule over days) or "seed" (5 attempts, exponential from 2 s).',
  })
  preset?: string;

  @Field(() => [Float], { nullable: true, description: 'Delays before the 2nd, 3rd, ... attempt, in ms.' })
  delaysMs?: number[];

  @Field(() => Float, { nullable: true })
  exponentialBaseMs?: number;

  @Field(() => Float, { nullable: true })
  exponentialFactor?: number;

  @Field(() => Float, { nullable: true })
  exponentialMaxMs?: number;

  @Field(() => Int, { nullable: true, description: 'Attempts in all, the first included (1 to 100).' })
  maxAttempts?: number;

  @Field(() => Float, { nullable: true, description: 'No retry later than this long after the delivery was created (ms); 0: no limit.' })
  maxAgeMs?: number;

  @Field(() => Float, { nullable: true, description: 'Jitter fraction, 0 to 1 (0.2: +-20%).' })
  jitter?: number;
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

  @Field(() => Int, { nullable: true, description: 'Deliveries in flight at once across all workers (default ENDPOINT_MAX_CONCURRENCY).' })
  maxConcurrency?: number;

  @Field(() => Int, {
    nullable: true,
    description: `Attempts started per second at most, 1 to ${MAX_RATE_LIMIT_PER_SECOND}, across all workers. Omitted: no limit.`,
  })
  rateLimitPerSecond?: number;

  @Field(() => RetryPolicyInput, { nullable: true, description: 'Its own retry policy; omitted: the global one.' })
  retryPolicy?: RetryPolicyInput;

  @Field(() => Boolean, { nullable: true, description: 'FIFO delivery to this endpoint (default false).' })
  ordered?: boolean;
}

@InputType()
export class UpdateEndpointInput {
  @Field(() => String, { nullable: true })
  url?: string;

  @Field(() => Boolean, { nullable: true, description: 'true: back to the global retry policy.' })
  clearRetryPolicy?: boolean;

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

  @Field(() => Int, { nullable: true, description: 'Deliveries in flight at once across all workers (default ENDPOINT_MAX_CONCURRENCY).' })
  maxConcurrency?: number;

  @Field(() => Int, {
    nullable: true,
    description: `Attempts started per second at most, 1 to ${MAX_RATE_LIMIT_PER_SECOND}, across all workers. Omitted: unchanged.`,
  })
  rateLimitPerSecond?: number;

  @Field(() => Boolean, { nullable: true, description: 'true: remove the rate limit.' })
  clearRateLimit?: boolean;

  @Field(() => RetryPolicyInput, { nullable: true, description: 'Its own retry policy; omitted: the global one.' })
  retryPolicy?: RetryPolicyInput;

  @Field(() => Boolean, { nullable: true, description: 'FIFO delivery to this endpoint (default false).' })
  ordered?: boolean;
}

@InputType()
export class EndpointFilter {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean;
}
