import { type Sql, execute, toDate } from '../db/sql';

/**
 * The per-endpoint rate limit, shared by every worker process through PostgreSQL, as one atomic upsert
 * of the endpoint's row in `endpoint_rate_slots` per attempt:
 *
 * - `tat` gates the starts (GCRA, the "virtual scheduling" token bucket): an attempt may start when
 *   `tat - T/2 <= now()`, and then `tat = greatest(tat, now()) + T`, with `T = 1 s / rate`. So no two starts
 *   are closer than T/2 and any second holds at most `rate + 1` starts, however late or early jobs run.
 * - `next_slot` queues the attempts that must wait: each takes the next free slot (`T` after the previous
 *   one) and is rescheduled as a job for it (a quarter slot early, so a little worker lag costs no
 *   throughput), holding no worker slot. A job that holds a slot does not queue behind the waiting
 *   ones again; a new attempt does, so waiting attempts are not overtaken.
 */
export type RateSlot = { kind: 'now' } | { kind: 'later'; at: Date; waitMs: number };

export async function takeRateSlot(db: Sql, endpointId: string, perSecond: number, holdsSlot: boolean): Promise<RateSlot> {
  const interval = `${1000 / perSecond} milliseconds`;
  const [row] = await execute<{ admitted: boolean; wake_at: string | Date; wait_ms: number }>(
    db,
    `with p as (select ?::interval as t, ?::boolean as holds)
     insert into endpoint_rate_slots as s (endpoint_id, tat, next_slot, admitted)
     select ?, now() + p.t, now() + p.t, true from p
     on conflict (endpoint_id) do update set
       admitted = (s.tat - (select t from p) / 2 <= now() and ((select holds from p) or s.next_slot - (select t from p) / 2 <= now())),
       tat = case when s.tat - (select t from p) / 2 <= now() and ((select holds from p) or s.next_slot - (select t from p) / 2 <= now())
                  then greatest(s.tat, now()) + (select t from p) else s.tat end,
       next_slot = case when s.tat - (select t from p) / 2 <= now() and ((select holds from p) or s.next_slot - (select t from p) / 2 <= now())
                        then greatest(s.next_slot, greatest(s.tat, now()) + (select t from p))
                        else greatest(s.next_slot, s.tat) + (select t from p) end
     returning admitted,
               next_slot - (select t from p) * 1.25 as wake_at,
               (extract(epoch from (next_slot - (select t from p) * 1.25 - now())) * 1000)::float8 as wait_ms`,
    [interval, holdsSlot, endpointId],
  );
  if (!row || row.admitted) return { kind: 'now' };
  // The database's clock decides; the wait is relative to it, so this process's clock need not agree.
  return { kind: 'later', at: toDate(row.wake_at), waitMs: Math.max(0, Number(row.wait_ms)) };
}
