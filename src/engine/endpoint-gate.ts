import type { EntityManager } from '@mikro-orm/postgresql';
import { type Sql, execute, executeWrites } from '../db/sql';
import { deleteJobsStillLockedBy } from '../db/job-queue-internals';
import { endpointsWithParked, lockEndpoints, parkingWrites, wakeParked } from '../queue/endpoint-parking';

/**
 * The per-endpoint concurrency limit, shared by every worker process through PostgreSQL: a delivery
 * in flight holds a row in `endpoint_inflight`. A delivery that finds its endpoint full is parked (its
 * job ends, so it holds no worker slot) and is woken, by enqueueing its job, when a slot frees up. Every
 * check and change of one endpoint's rows happens under that endpoint's advisory transaction lock, so
 * a park and a wake-up can never miss each other.
 */
/** `elsewhere`: the attempt is in flight in another live pool; `changed`: it was recorded (or the delivery finished) meanwhile. */
export type Admission =
  { kind: 'admitted' } | { kind: 'parked' } | { kind: 'paused' } | { kind: 'waiting' } | { kind: 'elsewhere' } | { kind: 'changed' };

export interface AdmissionRequest {
  deliveryId: string;
  /** The attempt the start is for: admitted only while it is the delivery's next. */
  attempt: number;
  endpointId: string;
  limit: number;
  poolId: string;
  /** The graphile-worker job asking, if any: parking the delivery ends it (see endParkedJobs). */
  jobId?: string;
  /** The endpoint was paused when the delivery was loaded: it is parked (`paused`) unless resumed since. */
  paused?: boolean;
}

async function lockEndpoint(db: Sql, endpointId: string): Promise<void> {
  await lockEndpoints(db, [endpointId]);
}

/**
 * Admits each delivery into a slot of its endpoint, first come first served, or parks it when the endpoint
 * is full. Call in a transaction: the endpoints stay locked until it ends. `parkedAt` says which deliveries
 * were parked before, so only rows whose parking changes are written. `waits` is asked about each delivery
 * that found its endpoint full: true leaves it as it was (`waiting`: its caller waits for a slot in memory and
 * asks again), false parks it. A parked delivery's job (`jobId`) is deleted in the same transaction. A delivery of a
 * paused endpoint (checked after the locks, which pause and resume take too) is parked as `paused`: no attempt is made
 * or counted, and resumeEndpoint wakes it.
 */
export async function admitInTransaction<R extends AdmissionRequest & { parkedAt: unknown }>(
  tx: Sql,
  all: R[],
  waits: (request: R) => boolean = () => false,
  liveWithinMs = 10_000,
): Promise<Admission[]> {
  if (all.length === 0) return [];
  await lockEndpoints(
    tx,
    all.map((request) => request.endpointId),
  );
  // The same attempt still in flight in another pool that is alive (its job was handed on while the attempt ran: a
  // pool abandoned after a failure, a completion lost to a database restart): sending it again would deliver it
  // twice. Such a delivery's slot row is only taken over from a dead pool. Nor is an attempt admitted that another job
  // of the delivery recorded (or a cancel finished) while this start waited for the endpoint's lock.
  const heldRows = await execute<{ delivery_id: string; kind: 'elsewhere' | 'changed' }>(
    tx,
    `with r as (select * from json_to_recordset(?::json) as r(delivery_id text, pool_id text, attempt int))
     select i.delivery_id, 'elsewhere' as kind from endpoint_inflight i join r on r.delivery_id = i.delivery_id
     where i.pool_id <> r.pool_id
       and (i.started_at >= now() - ?::interval
            or exists (select 1 from worker_heartbeats h where h.pool_id = i.pool_id and h.last_seen_at >= now() - ?::interval))
     union all
     select d.id, 'changed' from deliveries d join r on r.delivery_id = d.id
     where d.id = any(array(select delivery_id from r))
       and (d.attempt_count <> r.attempt - 1 or d.status not in ('PENDING', 'FAILED'))`,
    [
      JSON.stringify(all.map((request) => ({ delivery_id: request.deliveryId, pool_id: request.poolId, attempt: request.attempt }))),
      `${liveWithinMs} milliseconds`,
      `${liveWithinMs} milliseconds`,
    ],
  );
  // Recorded and in flight elsewhere means recorded: there is nothing left to look at again.
  const held = new Map<string, 'elsewhere' | 'changed'>();
  for (const row of heldRows) if (held.get(row.delivery_id) !== 'changed') held.set(row.delivery_id, row.kind);
  const requests = all.filter((request) => !held.has(request.deliveryId));
  // A re-run after a crash finds its own row (or a dead pool's): it takes it over instead of counting it twice.
  const admitted = await execute<{ delivery_id: string }>(
    tx,
    `with req as (
       select * from json_to_recordset(?::json) as r(delivery_id text, endpoint_id text, lim int, pool_id text, n int)
     ), busy as (
       select i.endpoint_id, count(*)::int as n from endpoint_inflight i
       where i.endpoint_id in (select endpoint_id from req) and i.delivery_id not in (select delivery_id from req)
       group by i.endpoint_id
     ), ranked as (
       select req.*, row_number() over (partition by req.endpoint_id order by req.n) as rank from req
     )
     insert into endpoint_inflight (delivery_id, endpoint_id, pool_id, started_at)
     select ranked.delivery_id, ranked.endpoint_id, ranked.pool_id, now()
     from ranked left join busy on busy.endpoint_id = ranked.endpoint_id
     where coalesce(busy.n, 0) + ranked.rank <= ranked.lim
       -- Read after the locks: a pause (or a cancellation) committed since the delivery was loaded holds it back.
       and not exists (select 1 from endpoints ep where ep.id = ranked.endpoint_id and ep.paused_at is not null)
       and exists (select 1 from deliveries d where d.id = ranked.delivery_id and d.status in ('PENDING', 'FAILED'))
     on conflict (delivery_id) do update set pool_id = excluded.pool_id, started_at = now()
     returning delivery_id`,
    [
      JSON.stringify(
        requests.map((request, n) => ({
          delivery_id: request.deliveryId,
          endpoint_id: request.endpointId,
          lim: request.limit,
          pool_id: request.poolId,
          n,
        })),
      ),
    ],
  );
  const admittedIds = new Set(admitted.map((row) => row.delivery_id));
  const admissions = requests.map((request): Admission => {
    if (admittedIds.has(request.deliveryId)) return { kind: 'admitted' };
    if (request.paused) return { kind: 'paused' };
    return request.parkedAt == null && waits(request) ? { kind: 'waiting' } : { kind: 'parked' };
  });
  const changed = requests
    .map((request, index) => ({ id: request.deliveryId, kind: admissions[index]!.kind, wasParked: request.parkedAt != null }))
    .filter((change) => change.kind !== 'waiting' && (change.kind === 'admitted') === change.wasParked)
    .map((change) => ({ id: change.id, admitted: change.kind === 'admitted' }));
  if (changed.length > 0) {
    await executeWrites(
      tx,
      parkingWrites(
        changed.filter((change) => !change.admitted).map((change) => change.id),
        changed.filter((change) => change.admitted).map((change) => change.id),
      ),
    );
  }
  await endParkedJobs(
    tx,
    requests.filter((_request, index) => admissions[index]!.kind === 'parked' || admissions[index]!.kind === 'paused'),
  );
  const byRequest = new Map(requests.map((request, index) => [request, admissions[index]!]));
  return all.map((request) => byRequest.get(request) ?? { kind: held.get(request.deliveryId)! });
}

/**
 * Deletes the jobs of deliveries just parked, in the parking transaction, instead of leaving them to
 * graphile-worker's completion once each job returns. A parked delivery is woken by enqueueing a job with its
 * key, and `add_jobs` re-keys a job still in the table (locking its row): a wake committing while the parking
 * jobs waited for their batched completion made that completion and the wake lock the same rows in opposite
 * orders, and a deadlock there makes graphile-worker abandon its whole pool. Once its job is gone, a parked
 * delivery's wake only inserts, and the completion finds nothing left to delete. Only jobs still locked by the
 * pool making the start are deleted: one the sweeper has handed to another worker is that worker's.
 */
async function endParkedJobs(tx: Sql, parked: Pick<AdmissionRequest, 'jobId' | 'poolId'>[]): Promise<void> {
  await deleteJobsStillLockedBy(
    tx,
    parked.flatMap((request) => (request.jobId === undefined ? [] : [{ id: request.jobId, lockedBy: request.poolId }])),
  );
}

/**
 * Frees the deliveries' slots and wakes parked deliveries of their endpoints into free slots. Call in a
 * transaction: the endpoints stay locked until it ends.
 */
export async function releaseMany(db: Sql, slots: { endpointId: string; deliveryId: string }[], defaultLimit: number): Promise<number> {
  if (slots.length === 0) return 0;
  const endpointIds = [...new Set(slots.map((slot) => slot.endpointId))].sort();
  await lockEndpoints(db, endpointIds);
  // One statement, after the locks: its snapshot sees every parking committed before them.
  const withParked = await executeWrites<{ endpoint_id: string }>(
    db,
    [
      {
        text: 'delete from endpoint_inflight where delivery_id in (select json_array_elements_text(?::json))',
        params: [JSON.stringify(slots.map((slot) => slot.deliveryId))],
      },
    ],
    endpointsWithParked(endpointIds),
  );
  let woken = 0;
  for (const { endpoint_id } of withParked) woken += await wakeParked(db, endpoint_id, defaultLimit);
  return woken;
}

/** The sweeper's safety net: wakes parked deliveries of every endpoint with a free slot. */
export async function wakeAllParked(db: EntityManager, defaultLimit: number): Promise<number> {
  const endpoints = await execute<{ endpoint_id: string }>(db, 'select distinct endpoint_id from parked_deliveries');
  let woken = 0;
  for (const { endpoint_id } of endpoints) {
    woken += await db.transactional(async (tx) => {
      await lockEndpoint(tx, endpoint_id);
      return wakeParked(tx, endpoint_id, defaultLimit);
    });
  }
  return woken;
}
