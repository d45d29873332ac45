import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261129000000_initial } from './Migration20261129000000_initial';
import { Migration20261129400000_metrics } from './Migration20261129400000_metrics';

/** Every migration, in order. Append-only once landed. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261129000000_initial', class: Migration20261129000000_initial },
  { name: 'Migration20261129400000_metrics', class: Migration20261129400000_metrics },
];
