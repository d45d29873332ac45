import { type Sql, addJobs, execute } from '../../db/sql';
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
 * Takes the next sequence number of the group and says whether the new delivery may start now (no
 * unfinished delivery before it). Call in the publishing transaction, before inserting the delivery.
 */
export async function enterGroup(em: Sql, group: string): Promise<{ sequence: number; startNow: boolean }> {
  await lockGroup(em, group);
  const [sequence] = await execute<{ last_sequence: string }>(
    em,
    `insert into ordering_sequences (ordering_group, last_sequence) values (?, 1)
     on conflict (ordering_group) do update set last_sequence = ordering_sequences.last_sequence + 1
     returning last_sequence`,
    [group],
  );
  const waiting = await execute(em, `select 1 from deliveries where ordering_group = ? and status in ('PENDING', 'FAILED') limit 1`, [
    group,
  ]);
  return { sequence: Number(sequence!.last_sequence), startNow: waiting.length === 0 };
}

/** After a delivery of the group finished: enqueue the oldest unfinished one. Call in the finishing transaction. */
export async function advanceGroup(em: Sql, group: string): Promise<void> {
  await lockGroup(em, group);
  const [next] = await execute<{ id: string; attempt_count: number }>(
    em,
    `select id, attempt_count from deliveries where ordering_group = ? and status in ('PENDING', 'FAILED')
     order by sequence limit 1`,
    [group],
  );
  if (next) await addJobs(em, [deliverJob(next.id, next.attempt_count + 1)]);
}
