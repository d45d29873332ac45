import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, ObjectType } from 'type-graphql';
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

  @Field(() => GraphQLJSON)
  data!: unknown;

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
    event.data = JSON.parse(entity.payload) as unknown;
    event.idempotencyKey = entity.idempotencyKey;
    event.orderingKey = entity.orderingKey;
    event.createdAt = entity.createdAt;
    return event;
  }

  static fromEntity(entity: EventEntity): EventType {
    return EventType.from({ ...entity, applicationId: entity.application.id });
  }
}

@ObjectType()
export class EventConnection extends ConnectionType(EventType, 'Event') {}
