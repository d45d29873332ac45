import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261129000000_initial } from './Migration20261129000000_initial';
import { Migration20261129100000_security } from './Migration20261129100000_security';
import { Migration20261129200000_reliability } from './Migration20261129200000_reliability';
import { Migration20261129300000_catalog } from './Migration20261129300000_catalog';
import { Migration20261129400000_metrics } from './Migration20261129400000_metrics';
import { Migration20261130000000_replay } from './Migration20261130000000_replay';
import { Migration20261130100000_api_key_changes } from './Migration20261130100000_api_key_changes';

/** Every migration, in order. Append-only once landed. */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261129000000_initial', class: Migration20261129000000_initial },
  { name: 'Migration20261129100000_security', class: Migration20261129100000_security },
  { name: 'Migration20261129200000_reliability', class: Migration20261129200000_reliability },
  { name: 'Migration20261129300000_catalog', class: Migration20261129300000_catalog },
  { name: 'Migration20261129400000_metrics', class: Migration20261129400000_metrics },
  { name: 'Migration20261130000000_replay', class: Migration20261130000000_replay },
  { name: 'Migration20261130100000_api_key_changes', class: Migration20261130100000_api_key_changes },
];
