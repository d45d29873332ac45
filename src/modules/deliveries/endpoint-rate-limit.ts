import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, toDate } from '../../db/sql';

/**
 * The per-endpoint rate limit, shared by every worker process through PostgreSQL: `endpoint_rate_slots`
 * holds the endpoint's next free start time, and each attempt takes the next slot with one atomic upsert
 * (`greatest(next_slot, now()) + 1 s / rate`). Slots are 1/rate apart, so no second holds more than `rate`
 * starts. An attempt whose slot is later waits for it as a scheduled job, holding no worker slot, and its
 * job carries the slot so that it does not take another one when it runs.
 */
export type RateSlot = { kind: 'now' } | { kind: 'later'; at: Date; waitMs: number };

export async function takeRateSlot(em: EntityManager, endpointId: string, perSecond: number): Promise<RateSlot> {
  const [row] = await execute<{ slot: string | Date; wait_ms: number }>(
    em,
    `insert into endpoint_rate_slots as s (endpoint_id, next_slot) values (?, now() + ?::float8 * interval '1 second')
     on conflict (endpoint_id) do update set next_slot = greatest(s.next_slot, now()) + ?::float8 * interval '1 second'
     returning next_slot - ?::float8 * interval '1 second' as slot,
               greatest(0, extract(epoch from (next_slot - ?::float8 * interval '1 second' - now())) * 1000)::float8 as wait_ms`,
    [endpointId, 1 / perSecond, 1 / perSecond, 1 / perSecond, 1 / perSecond],
  );
  // The database's clock decides; the wait is relative to it, so the caller's clock need not agree.
  const waitMs = Number(row?.wait_ms ?? 0);
  return waitMs <= 0 ? { kind: 'now' } : { kind: 'later', at: toDate(row!.slot), waitMs };
}
