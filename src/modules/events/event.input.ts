import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class PublishEventInput {
  @Field({ description: 'The event type, for example `order.created`.' })
  type!: string;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description:
      "The payload delivered as the envelope's `data`, as a JSON object: stored re-serialised (key order kept except integer-like keys, which come first in ascending order; numbers respelled: 1.0 is 1, 1e3 is 1000; of a repeated key the last value). An integer beyond ±(2^53-1) is refused: use `dataJson`. Give exactly one of `data` and `dataJson`.",
  })
  data?: Record<string, unknown> | null;

  @Field(() => String, {
    nullable: true,
    description:
      "The payload as JSON text (one object, no key twice), stored and delivered as the envelope's `data` byte for byte. Give exactly one of `data` and `dataJson`.",
  })
  dataJson?: string | null;

  @Field(() => String, { nullable: true, description: 'Payload version (default "1.0").' })
  version?: string;

  @Field(() => ID, { nullable: true, description: 'Defaults to the default application.' })
  applicationId?: string;

  @Field(() => String, {
    nullable: true,
    description:
      'Publishing again with the same key (per application) and the same type, version, data (as stored) and orderingKey returns the first event instead of a duplicate; with any of them different it is refused (IDEMPOTENCY_KEY_REUSED).',
  })
  idempotencyKey?: string;

  @Field(() => String, {
    nullable: true,
    description:
      'FIFO: each endpoint receives the events with the same key in publish order, the next only after the previous one succeeded or was dead-lettered. Deliveries carry a `webhook-sequence` header.',
  })
  orderingKey?: string;

  @Field(() => Date, {
    nullable: true,
    description:
      'Deliver at this time instead of at once: up to DELIVER_AT_MAX_AHEAD_DAYS ahead (30 by default); a time already past means at once. The event is stored now.',
  })
  deliverAt?: Date | null;

  @Field(() => [ID], {
    nullable: true,
    description:
      'Deliver only to these endpoints of the application (1 to 100; their filters and version pins still apply; a disabled one receives nothing). Default: every matching endpoint.',
  })
  endpointIds?: string[] | null;
}

@InputType()
export class EventFilter {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => String, { nullable: true })
  type?: string;

  @Field(() => Date, { nullable: true })
  createdAfter?: Date;

  @Field(() => Date, { nullable: true })
  createdBefore?: Date;
}
