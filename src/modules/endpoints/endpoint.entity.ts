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
    | 'eventVersions'
    | 'enabled'
    | 'disabledReason'
    | 'disabledAt'
    | 'headers'
    | 'metadata'
    | 'consecutiveDeadLetters'
    | 'previousSecrets'
    | 'signingKey'
    | 'publicKey'
    | 'consecutiveFailures'
    | 'failingSince'
    | 'throttledUntil'
    | 'maxConcurrency'
    | 'rateLimitPerSecond'
    | 'retryPolicy'
    | 'ordered'
    | 'pausedAt'
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

  /** Catalog version pins, `{"order.created": "1.0"}`: only that version of the type is delivered here. */
  @Property({ type: 'json' })
  eventVersions: Record<string, string> = {};

  /**
   * The current signing secret, encrypted (`enc:v1:...`, AES-256-GCM; see EndpointSecrets). Never exposed
   * on a listable type; returned once, in plain text, by registerEndpoint and rotateEndpointSecret.
   */
  @Property({ type: 'text', hidden: true })
  secret!: string;

  /** Secrets replaced by a rotation, encrypted, each valid (and signed with) until its grace period ends. */
  @Property({ type: 'json', hidden: true })
  previousSecrets: PreviousSecret[] = [];

  /** Encrypted ed25519 `whsk_` key when the endpoint also gets `v1a` signatures. */
  @Property({ type: 'text', nullable: true, hidden: true })
  signingKey: string | null = null;

  /** The `whpk_` public key receivers verify `v1a` signatures with; public by design. */
  @Property({ type: 'text', nullable: true })
  publicKey: string | null = null;

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

  /** Attempts started per second at most, across all workers; null: no limit. */
  @Property({ type: 'integer', nullable: true })
  rateLimitPerSecond: number | null = null;

  /** This endpoint's own retry policy; null: the global one. */
  @Property({ type: 'json', nullable: true })
  retryPolicy: RetryPolicy | null = null;

  /** FIFO: each delivery starts only after the previous one succeeded or was dead-lettered. */
  @Property({ type: 'boolean' })
  ordered: boolean = false;

  /** Set while paused (pauseEndpoint): its deliveries wait, parked, without an attempt, until resumeEndpoint. */
  @Property({ type: 'datetime', nullable: true })
  pausedAt: Date | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}

export interface PreviousSecret {
  /** Encrypted, like EndpointEntity.secret. */
  secret: string;
  /** ISO time after which deliveries stop carrying a signature made with it. */
  expiresAt: string;
}
