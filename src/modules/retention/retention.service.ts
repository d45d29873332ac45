import type { EntityManager } from '@mikro-orm/postgresql';
import { execute } from '../../db/sql';

/**
 * Purges events older than the retention age, with their deliveries (the events' delete trigger) and attempts (a
 * cascading foreign key), in small batches so no statement holds locks for long. Events with a delivery still pending
 * or scheduled for a retry are kept until it finishes. Audit log entries are kept as long as events, then purged
 * the same way.
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
    await this.purgeAuditLog(options.olderThan, options.batchSize, maxBatches);
    return { events, batches };
  }

  /** Audit log entries older than `olderThan`, in batches as events are; returns how many. */
  async purgeAuditLog(olderThan: Date, batchSize: number, maxBatches = 10_000): Promise<number> {
    let purged = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const deleted = await execute<{ id: string }>(
        this.em,
        `delete from audit_log where id in (
           select id from audit_log where created_at < ? order by created_at limit ? for update skip locked)
         returning id`,
        [olderThan, batchSize],
      );
      purged += deleted.length;
      if (deleted.length < batchSize) break;
    }
    return purged;
  }
}
