import { Entity, Enum, Index, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { AttemptErrorKind } from '../../delivery/attempt-outcome';
import { IdPrefix, newId } from '../../lib/ids';
import { ApplicationEntity } from '../applications/application.entity';
import { EndpointEntity } from '../endpoints/endpoint.entity';
import { EventEntity } from '../events/event.entity';
import { DeliveryStatus } from '../../queue/delivery-status';

@Entity({ tableName: 'deliveries' })
@Unique({ properties: ['event', 'endpoint'] })
// No index holds status or updated_at, so an outcome is a HOT update: open_deliveries and dead_deliveries hold the
// unfinished deliveries and the dead letters (migration Migration20261207900000_hot_delivery_updates).
@Index({ properties: ['application', 'id'] })
@Index({ properties: ['endpoint', 'id'] })
export class DeliveryEntity {
  [OptionalProps]?:
    | 'id'
    | 'status'
    | 'attemptCount'
    | 'nextAttemptAt'
    | 'lastAttemptAt'
    | 'lastStatusCode'
    | 'lastErrorKind'
    | 'lastError'
    | 'succeededAt'
    | 'orderingGroup'
    | 'sequence'
    | 'createdAt'
    | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id: string = newId(IdPrefix.delivery);

  /** Held by the fan-out and the events' delete trigger, not a key checked per row (docs/architecture.md). */
  @ManyToOne(() => EventEntity, { createForeignKeyConstraint: false })
  event!: EventEntity;

  /** Held by the fan-out and the endpoints' delete trigger, not a key checked per row (docs/architecture.md). */
  @ManyToOne(() => EndpointEntity, { createForeignKeyConstraint: false })
  endpoint!: EndpointEntity;

  /** Copied from the event so tenant-scoped lists need no join (the event's key holds it: no key of its own). */
  @ManyToOne(() => ApplicationEntity, { createForeignKeyConstraint: false })
  application!: ApplicationEntity;

  @Property({ type: 'text' })
  eventType!: string;

  @Enum({ items: () => DeliveryStatus })
  status: DeliveryStatus = DeliveryStatus.PENDING;

  @Property({ type: 'integer' })
  attemptCount: number = 0;

  @Property({ type: 'datetime', nullable: true })
  nextAttemptAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  lastAttemptAt: Date | null = null;

  @Property({ type: 'integer', nullable: true })
  lastStatusCode: number | null = null;

  @Enum({ items: () => AttemptErrorKind, nullable: true })
  lastErrorKind: AttemptErrorKind | null = null;

  @Property({ type: 'text', nullable: true })
  lastError: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  succeededAt: Date | null = null;

  /** FIFO group (endpoint, and ordering key when the event has one); null: unordered. */
  @Property({ type: 'text', nullable: true })
  orderingGroup: string | null = null;

  /** Position in its FIFO group, sent as the webhook-sequence header. */
  @Property({ type: 'bigint', nullable: true })
  sequence: string | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
