import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, Int, ObjectType } from 'type-graphql';
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

  /** The payload's JSON text as stored; `data` is read from it only when a query selects it. */
  payload!: string;

  @Field(() => GraphQLJSON)
  get data(): unknown {
    return JSON.parse(this.payload) as unknown;
  }

  @Field(() => String, { nullable: true })
  idempotencyKey!: string | null;

  @Field(() => String, { nullable: true, description: 'Deliveries of events with the same key to one endpoint are made in publish order.' })
  orderingKey!: string | null;

  @Field()
  createdAt!: Date;

  @Field(() => Date, { nullable: true, description: 'When its deliveries were due, if it was published for later (deliverAt).' })
  deliverAt!: Date | null;

  @Field(() => Int, {
    nullable: true,
    description:
      'On the result of publishEvent(s): how many endpoints it was fanned out to (0: nobody listens); null for a repeat of an idempotency key and outside a publish (see deliveries).',
  })
  matchedEndpoints!: number | null;

  static from(
    entity: Pick<EventEntity, 'id' | 'type' | 'version' | 'payload' | 'idempotencyKey' | 'orderingKey' | 'createdAt'> & {
      applicationId: string;
      deliverAt?: Date | null;
    },
    matchedEndpoints: number | null = null,
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
    event.deliverAt = entity.deliverAt ?? null;
    event.matchedEndpoints = matchedEndpoints;
    return event;
  }

  static fromEntity(entity: EventEntity): EventType {
    return EventType.from({ ...entity, applicationId: entity.application.id });
  }
}

@ObjectType({ description: 'Who would receive an event of a type and version if it were published now.' })
export class EventListenersType {
  @Field(() => Int, { description: 'How many enabled endpoints of the application take it (filters and version pins applied).' })
  count!: number;

  @Field(() => [ID])
  endpointIds!: string[];
}

@ObjectType()
export class EventConnection extends ConnectionType(EventType, 'Event') {}
