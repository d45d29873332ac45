import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { IdPrefix, newId } from '../../lib/ids';
import { ApplicationEntity } from '../applications/application.entity';

@Entity({ tableName: 'events' })
@Index({ properties: ['application', 'id'] })
@Unique({ properties: ['application', 'idempotencyKey'] })
export class EventEntity {
  [OptionalProps]?: 'id' | 'version' | 'idempotencyKey' | 'orderingKey' | 'deliverAt' | 'createdAt';

  @PrimaryKey({ type: 'text' })
  id: string = newId(IdPrefix.event);

  @ManyToOne(() => ApplicationEntity, { deleteRule: 'cascade' })
  application!: ApplicationEntity;

  @Property({ type: 'text' })
  type!: string;

  @Property({ type: 'text' })
  version: string = '1.0';

  /** The data exactly as published, as JSON text: delivered byte for byte. */
  @Property({ type: 'text' })
  payload!: string;

  @Property({ type: 'text', nullable: true })
  idempotencyKey: string | null = null;

  /** Deliveries of events with the same key to one endpoint are made in publish order. */
  @Property({ type: 'text', nullable: true })
  orderingKey: string | null = null;

  /** When its deliveries were due, for an event published for later. */
  @Property({ type: 'datetime', nullable: true })
  deliverAt: Date | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}
