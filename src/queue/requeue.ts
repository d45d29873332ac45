import type { EntityManager } from '@mikro-orm/postgresql';
import { type ChangeMessage, addJobs, execute, notify } from '../db/sql';
import { deliverJob } from './deliver-job';
import { DeliveryStatus } from './delivery-status';
import { lockGroupsOf, startableRequeued } from './ordering';

export interface RequeuedDelivery {
  id: string;
  event_id: string;
  endpoint_id: string;
  application_id: string;
  attempt_count: number;
  ordering_group: string | null;
  sequence: string | null;
}

/**
 * Queues the next attempt of each delivery now: status back to PENDING, its job, and a notification, on
 * the caller's transaction. The one requeue retryDelivery, replayDeadLetters and enableEndpoint(redeliverMissed)
 * use. A delivery of a FIFO group gets its job only when it is the oldest unfinished one of its group; otherwise it
 * waits for its turn (startableRequeued). With `onlyDead`, a delivery that is no longer DEAD (retried meanwhile,
 * say) is left alone. Returns what was requeued.
 */
export async function requeueDeliveries(
  em: EntityManager,
  ids: string[],
  options: { onlyDead?: boolean } = {},
): Promise<RequeuedDelivery[]> {
  if (ids.length === 0) return [];
  await lockGroupsOf(em, ids);
  const rows = await execute<RequeuedDelivery>(
    em,
    `update deliveries set status = 'PENDING', next_attempt_at = now(), updated_at = now()
     where id in (select value from json_array_elements_text(?::json)) ${options.onlyDead ? `and status = 'DEAD'` : ''}
     returning id, event_id, endpoint_id, application_id, attempt_count, ordering_group, sequence`,
    [JSON.stringify(ids)],
  );
  await addJobs(
    em,
    (await startableRequeued(em, rows)).map((row) => deliverJob(row.id, row.attempt_count + 1)),
  );
  await notify(
    em,
    rows.map((row) =>
      pendingMessage({ deliveryId: row.id, eventId: row.event_id, endpointId: row.endpoint_id, applicationId: row.application_id }),
    ),
  );
  return rows;
}

/** The change message of a delivery queued (again) to be attempted. */
export function pendingMessage(delivery: {
  deliveryId: string;
  eventId: string;
  endpointId: string;
  applicationId: string;
}): ChangeMessage {
  return { kind: 'delivery', ...delivery, status: DeliveryStatus.PENDING, attempt: null };
}
