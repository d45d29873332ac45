import { Entity, Enum, ManyToOne, OptionalProps, PrimaryKey, Property, Unique } from '@mikro-orm/core';
import { AttemptErrorKind } from '../../delivery/attempt-outcome';
import { IdPrefix, newId } from '../../lib/ids';
import { DeliveryEntity } from './delivery.entity';

/** The table's primary key is (delivery_id, number), how attempts are read; `id` names an attempt in the API. */
@Entity({ tableName: 'delivery_attempts' })
@Unique({ properties: ['delivery', 'number'] })
export class DeliveryAttemptEntity {
  [OptionalProps]?: 'id' | 'requestHeaders' | 'responseStatus' | 'responseBody' | 'responseBodyTruncated' | 'errorKind' | 'errorMessage';

  @PrimaryKey({ type: 'text' })
  id: string = newId(IdPrefix.attempt);

  @ManyToOne(() => DeliveryEntity, { deleteRule: 'cascade' })
  delivery!: DeliveryEntity;

  @Property({ type: 'integer' })
  number!: number;

  @Property({ type: 'datetime' })
  attemptedAt!: Date;

  @Property({ type: 'text' })
  url!: string;

  /** What was sent, with signatures and credential-like headers redacted. */
  @Property({ type: 'json' })
  requestHeaders: Record<string, string> = {};

  @Property({ type: 'integer', nullable: true })
  responseStatus: number | null = null;

  @Property({ type: 'text', nullable: true })
  responseBody: string | null = null;

  @Property({ type: 'boolean' })
  responseBodyTruncated: boolean = false;

  @Property({ type: 'integer' })
  durationMs!: number;

  @Enum({ items: () => AttemptErrorKind, nullable: true })
  errorKind: AttemptErrorKind | null = null;

  @Property({ type: 'text', nullable: true })
  errorMessage: string | null = null;
}
