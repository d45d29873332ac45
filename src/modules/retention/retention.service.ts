import type { EntityManager } from '@mikro-orm/postgresql';
import { execute } from '../../db/sql';

/**
 * Purges events older than the retention age, with their deliveries and attempts (cascading foreign
 * keys), in small batches so no statement holds locks for long. Events with a delivery still pending
 * or scheduled for a retry are kept until it finishes.
 */
export class RetentionService {
  constructor(private readonly em: EntityManager) {}

  async purge(options: { olderThan: Date; batchSize: number; maxBatches?: number }): Promise<{ events: number; batches: number }> {
    let events = 0;
    let batches = 0;
    const maxBatches = options.maxBatches ?? 10_000;
    while (batches < maxBatches) {
      const deleted = await execute<{ id: string }>(
        this.em,
        `delete from events where id in (
           select e.id from events e
           where e.created_at < ?
             and not exists (select 1 from deliveries d where d.event_id = e.id and d.status in ('PENDING', 'FAILED'))
           order by e.created_at
           limit ?
           for update skip locked)
         returning id`,
        [options.olderThan, options.batchSize],
      );
      batches += 1;
      events += deleted.length;
      if (deleted.length < options.batchSize) break;
    }
    return { events, batches };
  }
}
