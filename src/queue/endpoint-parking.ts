import { type Sql, type SqlFragment, addJobs, execute } from '../db/sql';
import { deliverJob } from './deliver-job';

/**
 * An endpoint's parked deliveries (`parked_deliveries`): waiting, with no job, for a free slot of their endpoint
 * or for the endpoint to be resumed. Shared by the engine's gate (src/engine/endpoint-gate.ts) and pause / resume
 * (the endpoints service), which take the same per-endpoint advisory lock, so a park and a wake never miss each other.
 */

/** Takes the endpoints' locks in one order for every caller, so two transactions cannot deadlock on them. */
export async function lockEndpoints(db: Sql, endpointIds: string[]): Promise<void> {
  const keys = [...new Set(endpointIds)].sort().map((id) => `herald:endpoint:${id}`);
  await execute(
    db,
    `select pg_advisory_xact_lock(hashtext(k)) from (select k from json_array_elements_text(?::json) with ordinality as t(k, n) order by n) ordered`,
    [JSON.stringify(keys)],
  );
}

/**
 * The writes that park deliveries (unless cancelled since they were loaded) and unpark admitted ones, for the caller's
 * statement (`executeWrites`). Every statement on `parked_deliveries` finds its rows by key or through the endpoint
 * index: joins and `exists` over it were planned, generically, as scans of the whole table.
 */
export function parkingWrites(park: string[], unpark: string[]): SqlFragment[] {
  return [
    {
      text: `delete from parked_deliveries where delivery_id = any(array(select json_array_elements_text(?::json)))`,
      params: [JSON.stringify(unpark)],
    },
    {
      text: `insert into parked_deliveries (delivery_id, endpoint_id)
             select d.id, d.endpoint_id from deliveries d
             where d.id = any(array(select json_array_elements_text(?::json))) and d.status in ('PENDING', 'FAILED')
             on conflict (delivery_id) do nothing`,
      params: [JSON.stringify(park)],
    },
  ];
}

/** Which of the endpoints have parked deliveries: one probe of the endpoint index each, in its order. */
export function endpointsWithParked(endpointIds: string[]): SqlFragment {
  return {
    text: `select e.endpoint_id from json_array_elements_text(?::json) as e(endpoint_id)
           where (select true from parked_deliveries p where p.endpoint_id = e.endpoint_id order by p.parked_at limit 1)`,
    params: [JSON.stringify(endpointIds)],
  };
}

/**
 * Enqueues as many parked deliveries of the endpoint as it has free slots, oldest first; none while it is paused.
 * Needs the endpoint lock.
 */
export async function wakeParked(db: Sql, endpointId: string, defaultLimit: number): Promise<number> {
  const woken = await execute<{ id: string; attempt_count: number }>(
    db,
    `with capacity as (
       select case when ep.paused_at is not null then 0
                   else greatest(0, coalesce(ep.max_concurrency, ?) - (select count(*) from endpoint_inflight i where i.endpoint_id = ep.id))
              end as free
       from endpoints ep where ep.id = ?
     ), next as (
       select p.delivery_id from parked_deliveries p
       where p.endpoint_id = ?
       order by p.parked_at, p.delivery_id
       limit (select free from capacity)
     ), woken as (
       delete from parked_deliveries p where p.delivery_id = any(array(select delivery_id from next)) returning p.delivery_id
     )
     select d.id, d.attempt_count from deliveries d join woken on woken.delivery_id = d.id`,
    [defaultLimit, endpointId, endpointId],
  );
  await addJobs(
    db,
    woken.map((row) => deliverJob(row.id, row.attempt_count + 1)),
  );
  return woken.length;
}
