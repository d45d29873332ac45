import type { MikroORM } from '@mikro-orm/postgresql';
import type { Task } from 'graphile-worker';
import type { HeraldConfig } from '../../config';
import type { Clock } from '../../lib/clock';
import type { Logger } from '../../lib/logger';
import { RetentionService } from '../../modules/retention/retention.service';

export const PURGE_TASK = 'purge';

/** Run hourly by graphile-worker's cron (one run per hour across all workers). */
export function createPurgeTask(deps: { orm: MikroORM; config: HeraldConfig; clock: Clock; logger: Logger }): Task {
  return async () => {
    const { maxAgeMs, batchSize } = deps.config.retention;
    if (maxAgeMs <= 0) return;
    const olderThan = new Date(deps.clock.now().getTime() - maxAgeMs);
    const result = await new RetentionService(deps.orm.em.fork()).purge({ olderThan, batchSize });
    if (result.events > 0) deps.logger.info({ ...result, olderThan }, 'purged events past the retention age');
  };
}
