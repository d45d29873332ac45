import { Entity, OptionalProps, PrimaryKey, Property } from '@mikro-orm/core';
import { IdPrefix, newId } from '../../lib/ids';

/** The id of the application that exists from the first migration, so simple use needs none. */
export const DEFAULT_APPLICATION_ID = 'app_default';

@Entity({ tableName: 'applications' })
export class ApplicationEntity {
  [OptionalProps]?: 'id' | 'metadata' | 'createdAt';

  @PrimaryKey({ type: 'text' })
  id: string = newId(IdPrefix.application);

  @Property({ type: 'text' })
  name!: string;

  @Property({ type: 'json', nullable: true })
  metadata: Record<string, unknown> | null = null;

  @Property({ type: 'datetime', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}
