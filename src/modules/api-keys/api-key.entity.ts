import { Entity, Enum, ManyToOne, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { IdPrefix, newId } from '../../lib/ids';
import { ApplicationEntity } from '../applications/application.entity';

export enum ApiKeyKind {
  /** Everything, every application. */
  ADMIN = 'ADMIN',
  /** One application's endpoints, events, deliveries and subscriptions: for a customer-facing portal. */
  APPLICATION = 'APPLICATION',
}

/** An API key. Only its SHA-256 hash is stored; the key itself is shown once, when it is created. */
@Entity({ tableName: 'api_keys' })
export class ApiKeyEntity {
  [OptionalProps]?: 'id' | 'application' | 'createdAt' | 'expiresAt' | 'revokedAt' | 'lastUsedAt';

  @PrimaryKey({ type: 'text' })
  id: string = newId(IdPrefix.apiKey);

  @Property({ type: 'text' })
  name!: string;

  @Enum({ items: () => ApiKeyKind })
  kind!: ApiKeyKind;

  @ManyToOne(() => ApplicationEntity, { nullable: true, deleteRule: 'cascade' })
  application: ApplicationEntity | null = null;

  /** The key's first characters (`hk_1a2b3c4d`), safe to show so people can tell keys apart. */
  @Property({ type: 'text', unique: true })
  prefix!: string;

  @Property({ type: 'text', unique: true, hidden: true })
  keyHash!: string;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'datetime', nullable: true })
  expiresAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  revokedAt: Date | null = null;

  @Property({ type: 'datetime', nullable: true })
  lastUsedAt: Date | null = null;
}
