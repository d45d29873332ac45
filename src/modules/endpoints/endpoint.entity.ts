import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import type { RetryPolicy } from '../../delivery/retry-policy';
import { IdPrefix, newId } from '../../lib/ids';
import { ApplicationEntity } from '../applications/application.entity';

@Entity({ tableName: 'endpoints' })
@Index({ properties: ['application', 'id'] })
export class EndpointEntity {
  [OptionalProps]?:
    | 'id'
    | 'description'
    | 'eventTypes'
    | 'enabled'
    | 'disabledReason'
    | 'disabledAt'
    | 'headers'
    | 'metadata'
    | 'consecutiveDeadLetters'
    | 'consecutiveFailures'
    | 'failingSince'
    | 'throttledUntil'
    | 'maxConcurrency'
    | 'retryPolicy'
    | 'ordered'
    | 'createdAt'
    | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id: string = newId(IdPrefix.endpoint);

  @ManyToOne(() => ApplicationEntity, { deleteRule: 'cascade' })
  application!: ApplicationEntity;

  @Property({ type: 'text' })
  url!: string;

  @Property({ type: 'text', nullable: true })
  description: string | null = null;

  /** Event-type filters; `*` matches any run of characters (`order.*`). Empty means every type. */
  @Property({ type: 'text[]' })
  eventTypes: string[] = [];

  /** Never exposed on a listable type; returned once by registerEndpoint and rotateEndpointSecret. */
  @Property({ type: 'text', hidden: true })
  secret!: string;

  @Property({ type: 'boolean' })
  enabled: boolean = true;

  @Property({ type: 'text', nullable: true })
  disabledReason: string | null = null;

  @Property({ type: 'datetime', nullable: true })
  disabledAt: Date | null = null;

  @Property({ type: 'json' })
  headers: Record<string, string> = {};

  @Property({ type: 'json', nullable: true })
  metadata: Record<string, unknown> | null = null;

  /** Deliveries dead-lettered in a row; a success resets it. */
  @Property({ type: 'integer' })
  consecutiveDeadLetters: number = 0;

  /** Failed attempts in a row; a success resets it. */
  @Property({ type: 'integer' })
  consecutiveFailures: number = 0;

  /** When the current run of failures began; null while healthy. */
  @Property({ type: 'datetime', nullable: true })
  failingSince: Date | null = null;

  /** Set by a throttling answer (429, 502, 503, 504): no attempt starts before this time. */
  @Property({ type: 'datetime', nullable: true })
  throttledUntil: Date | null = null;

  /** Deliveries in flight at once across all workers; null: ENDPOINT_MAX_CONCURRENCY. */
  @Property({ type: 'integer', nullable: true })
  maxConcurrency: number | null = null;

  /** This endpoint's own retry policy; null: the global one. */
  @Property({ type: 'json', nullable: true })
  retryPolicy: RetryPolicy | null = null;

  /** FIFO: each delivery starts only after the previous one succeeded or was dead-lettered. */
  @Property({ type: 'boolean' })
  ordered: boolean = false;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
