import type { EntityManager } from '@mikro-orm/postgresql';
import { addJobs, execute } from '../../db/sql';
import { deliverJob } from './deliver-job';

/**
 * The per-endpoint concurrency limit, shared by every worker process through PostgreSQL: a delivery
 * in flight holds a row in `endpoint_inflight`. A delivery that finds its endpoint full is parked (its
 * job ends, so it holds no worker slot) and is woken, by enqueueing its job, when a slot frees up. Every
 * check and change of one endpoint's rows happens under that endpoint's advisory transaction lock, so
 * a park and a wake-up can never miss each other.
 */
export type Admission = { kind: 'admitted' } | { kind: 'parked' };

async function lockEndpoint(em: EntityManager, endpointId: string): Promise<void> {
  await execute(em, 'select pg_advisory_xact_lock(hashtext(?))', [`herald:endpoint:${endpointId}`]);
}

export async function admit(
  em: EntityManager,
  work: { deliveryId: string; endpointId: string; limit: number; poolId: string },
): Promise<Admission> {
  return em.transactional(async (tx) => {
    await lockEndpoint(tx, work.endpointId);
    const [row] = await execute<{ busy: number }>(
      tx,
      'select count(*)::int as busy from endpoint_inflight where endpoint_id = ? and delivery_id <> ?',
      [work.endpointId, work.deliveryId],
    );
    if ((row?.busy ?? 0) >= work.limit) {
      await execute(tx, 'update deliveries set parked_at = coalesce(parked_at, now()) where id = ?', [work.deliveryId]);
      return { kind: 'parked' };
    }
    // A re-run after a crash finds its own row: take it over instead of counting it twice.
    await execute(
      tx,
      `insert into endpoint_inflight (delivery_id, endpoint_id, pool_id, started_at) values (?, ?, ?, now())
       on conflict (delivery_id) do update set pool_id = excluded.pool_id, started_at = now()`,
      [work.deliveryId, work.endpointId, work.poolId],
    );
    await execute(tx, 'update deliveries set parked_at = null where id = ? and parked_at is not null', [work.deliveryId]);
    return { kind: 'admitted' };
  });
}

/** Frees the delivery's slot (if it holds one) and wakes parked deliveries into free slots. Call in a transaction. */
export async function release(em: EntityManager, endpointId: string, deliveryId: string | null, defaultLimit: number): Promise<number> {
  await lockEndpoint(em, endpointId);
  if (deliveryId) await execute(em, 'delete from endpoint_inflight where delivery_id = ?', [deliveryId]);
  return wakeParked(em, endpointId, defaultLimit);
}

/** Enqueues as many parked deliveries of the endpoint as it has free slots, oldest first. Needs the endpoint lock. */
async function wakeParked(em: EntityManager, endpointId: string, defaultLimit: number): Promise<number> {
  const woken = await execute<{ id: string; attempt_count: number }>(
    em,
    `with capacity as (
       select greatest(0, coalesce(ep.max_concurrency, ?) - (select count(*) from endpoint_inflight i where i.endpoint_id = ep.id)) as free
       from endpoints ep where ep.id = ?
     ), next as (
       select d.id from deliveries d
       where d.endpoint_id = ? and d.parked_at is not null
       order by d.parked_at, d.id
       limit (select free from capacity)
     )
     update deliveries d set parked_at = null, next_attempt_at = now(), updated_at = now()
     from next where d.id = next.id
     returning d.id, d.attempt_count`,
    [defaultLimit, endpointId, endpointId],
  );
  await addJobs(
    em,
    woken.map((row) => deliverJob(row.id, row.attempt_count + 1)),
  );
  return woken.length;
}

/** The sweeper's safety net: wakes parked deliveries of every endpoint with a free slot. */
export async function wakeAllParked(em: EntityManager, defaultLimit: number): Promise<number> {
  const endpoints = await execute<{ endpoint_id: string }>(em, 'select distinct endpoint_id from deliveries where parked_at is not null');
  let woken = 0;
  for (const { endpoint_id } of endpoints) {
    woken += await em.transactional(async (tx) => {
      await lockEndpoint(tx, endpoint_id);
      return wakeParked(tx, endpoint_id, defaultLimit);
    });
  }
  return woken;
}
