import { GraphQLJSON, GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { ConnectionType } from '../../graphql/pagination';
import type { EventEntity } from './event.entity';

@ObjectType('Event', { description: 'Something that happened in a product, fanned out to every matching endpoint.' })
export class EventType {
  @Field(() => ID, { description: '`evt_...`: also the `webhook-id` every delivery of it carries.' })
  id!: string;

  @Field(() => ID)
  applicationId!: string;

  @Field()
  type!: string;

  @Field()
  version!: string;

  /** The payload as stored (JSON text); parsed only when `data` is asked for (a publish usually selects only ids). */
  private payload = 'null';
  private parsed: { value: unknown } | null = null;

  @Field(() => GraphQLJSON)
  get data(): unknown {
    this.parsed ??= { value: JSON.parse(this.payload) as unknown };
    return this.parsed.value;
  }

  @Field(() => String, { nullable: true })
  idempotencyKey!: string | null;

  @Field(() => String, { nullable: true, description: 'Deliveries of events with the same key to one endpoint are made in publish order.' })
  orderingKey!: string | null;

  @Field()
  createdAt!: Date;

  static from(
    entity: Pick<EventEntity, 'id' | 'type' | 'version' | 'payload' | 'idempotencyKey' | 'orderingKey' | 'createdAt'> & {
      applicationId: string;
    },
  ): EventType {
    const event = new EventType();
    event.id = entity.id;
    event.applicationId = entity.applicationId;
    event.type = entity.type;
    event.version = entity.version;
    event.payload = entity.payload;
    event.idempotencyKey = entity.idempotencyKey;
    event.orderingKey = entity.orderingKey;
    event.createdAt = entity.createdAt;
    return event;
  }
}

@ObjectType()
export class EventConnection extends ConnectionType(EventType, 'Event') {}

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
