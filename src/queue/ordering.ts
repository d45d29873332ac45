import { type Sql, addJobs, execute, toDate } from '../db/sql';
import { deliverJob } from './deliver-job';

/**
 * FIFO delivery. An ordered endpoint, or an event with an `orderingKey`, puts each delivery in a group
 * (the endpoint, plus the key when there is one) with a sequence number (herald.fan_out enters them). Only the
 * oldest unfinished delivery of a group has a job; finishing it (SUCCEEDED or DEAD) enqueues the next one in the
 * same transaction. Publishing, requeueing and finishing take the group's advisory lock, so none misses another.
 */

async function lockGroup(db: Sql, group: string): Promise<void> {
  await execute(db, 'select pg_advisory_xact_lock(hashtext(?))', [`herald:order:${group}`]);
}

/**
 * Of deliveries made unfinished again (retried or replayed), the ones that may start now: any outside a FIFO group,
 * and in a group only the oldest of them, and only when no other delivery of the group is unfinished. The others wait
 * for their turn: finishing the group's current delivery enqueues the oldest unfinished one (advanceGroup). Call in
 * the requeueing transaction, with the groups locked (lockGroups) before their deliveries changed.
 */
export async function startableRequeued<T extends { id: string; ordering_group: string | null; sequence: string | number | null }>(
  db: Sql,
  requeued: T[],
): Promise<T[]> {
  const grouped = requeued.filter((delivery) => delivery.ordering_group !== null);
  if (grouped.length === 0) return requeued;
  const busy = await execute<{ ordering_group: string }>(
    db,
    `select distinct o.ordering_group from open_deliveries o
     where o.ordering_group in (select value from json_array_elements_text(?::json))
       and o.delivery_id not in (select value from json_array_elements_text(?::json))`,
    [
      JSON.stringify([...new Set(grouped.map((delivery) => delivery.ordering_group))]),
      JSON.stringify(grouped.map((delivery) => delivery.id)),
    ],
  );
  const busyGroups = new Set(busy.map((row) => row.ordering_group));
  const oldest = new Map<string, T>();
  for (const delivery of grouped) {
    const current = oldest.get(delivery.ordering_group!);
    if (!current || Number(delivery.sequence) < Number(current.sequence)) oldest.set(delivery.ordering_group!, delivery);
  }
  return requeued.filter(
    (delivery) =>
      delivery.ordering_group === null || (!busyGroups.has(delivery.ordering_group) && oldest.get(delivery.ordering_group) === delivery),
  );
}

/** Takes the advisory locks of these FIFO groups, in name order (as herald.fan_out does). */
export async function lockGroups(db: Sql, groups: string[]): Promise<void> {
  for (const group of [...new Set(groups)].sort()) await lockGroup(db, group);
}

/** Takes the advisory locks of the FIFO groups of these deliveries, in name order (as herald.fan_out does). */
export async function lockGroupsOf(db: Sql, deliveryIds: string[]): Promise<void> {
  const groups = await execute<{ ordering_group: string }>(
    db,
    `select distinct ordering_group from deliveries
     where id in (select value from json_array_elements_text(?::json)) and ordering_group is not null order by 1`,
    [JSON.stringify(deliveryIds)],
  );
  for (const { ordering_group: group } of groups) await lockGroup(db, group);
}

/**
 * After a delivery of the group finished: enqueue the oldest unfinished one, unless it already has a job (a retry
 * waiting for its delay, or an attempt in flight: a second job would send the same attempt again) or is parked (a
 * freed slot wakes it). Call in the finishing transaction.
 */
export async function advanceGroup(db: Sql, group: string): Promise<void> {
  await lockGroup(db, group);
  const [next] = await execute<{ id: string; attempt_count: number; next_attempt_at: string | Date | null; parked: boolean }>(
    db,
    `select d.id, d.attempt_count, d.next_attempt_at, exists (select 1 from parked_deliveries p where p.delivery_id = d.id) as parked
     from open_deliveries o join deliveries d on d.id = o.delivery_id
     where o.ordering_group = ?
     order by o.sequence limit 1`,
    [group],
  );
  if (!next || next.parked) return;
  const job = deliverJob(next.id, next.attempt_count + 1, next.next_attempt_at ? toDate(next.next_attempt_at) : undefined);
  // graphile-worker's `jobs` view is its stable interface to enqueued jobs, unlike the tables under it.
  const [queued] = await execute(db, 'select 1 from graphile_worker.jobs where key = ?', [job.jobKey]);
  if (!queued) await addJobs(db, [job]);
}
