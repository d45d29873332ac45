import { type Sql, addJobs, execute, toDate } from '../../db/sql';
import { deliverJob } from './deliver-job';

/**
 * FIFO delivery. An ordered endpoint, or an event with an `orderingKey`, puts each delivery in a group
 * (the endpoint, plus the key when there is one) with a sequence number. Only the oldest unfinished
 * delivery of a group has a job; finishing it (SUCCEEDED or DEAD) enqueues the next one in the same
 * transaction. Publishing and finishing take the group's advisory lock, so neither can miss the other.
 */
export function orderingGroup(endpointId: string, endpointOrdered: boolean, orderingKey: string | null): string | null {
  if (orderingKey !== null) return `${endpointId}:${orderingKey}`;
  return endpointOrdered ? endpointId : null;
}

async function lockGroup(em: Sql, group: string): Promise<void> {
  await execute(em, 'select pg_advisory_xact_lock(hashtext(?))', [`herald:order:${group}`]);
}

/**
 * Takes the next sequence number of the group and says whether the new delivery may start now: it is the first of
 * its group in its batch (`firstInBatch`; the batch's deliveries are inserted after all of them entered) and no
 * unfinished delivery is before it. Call in the publishing transaction, before inserting the delivery.
 */
export async function enterGroup(em: Sql, group: string, firstInBatch = true): Promise<{ sequence: number; startNow: boolean }> {
  await lockGroup(em, group);
  const [sequence] = await execute<{ last_sequence: string }>(
    em,
    `insert into ordering_sequences (ordering_group, last_sequence) values (?, 1)
     on conflict (ordering_group) do update set last_sequence = ordering_sequences.last_sequence + 1
     returning last_sequence`,
    [group],
  );
  if (!firstInBatch) return { sequence: Number(sequence!.last_sequence), startNow: false };
  const waiting = await execute(em, `select 1 from deliveries where ordering_group = ? and status in ('PENDING', 'FAILED') limit 1`, [
    group,
  ]);
  return { sequence: Number(sequence!.last_sequence), startNow: waiting.length === 0 };
}

/**
 * After a delivery of the group finished: enqueue the oldest unfinished one, unless it already has a job (a retry
 * waiting for its delay, or an attempt in flight: a second job would send the same attempt again) or is parked (a
 * freed slot wakes it). Call in the finishing transaction.
 */
export async function advanceGroup(em: Sql, group: string): Promise<void> {
  await lockGroup(em, group);
  const [next] = await execute<{ id: string; attempt_count: number; next_attempt_at: string | Date | null; parked: boolean }>(
    em,
    `select id, attempt_count, next_attempt_at, parked_at is not null as parked from deliveries
     where ordering_group = ? and status in ('PENDING', 'FAILED')
     order by sequence limit 1`,
    [group],
  );
  if (!next || next.parked) return;
  const job = deliverJob(next.id, next.attempt_count + 1, next.next_attempt_at ? toDate(next.next_attempt_at) : undefined);
  const [queued] = await execute(em, 'select 1 from graphile_worker._private_jobs where key = ?', [job.jobKey]);
  if (!queued) await addJobs(em, [job]);
}
