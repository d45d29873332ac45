import { type Sql, type SqlFragment, executeWrites } from '../../db/sql';
import { LATENCY_BUCKET_COLUMNS, latencyBucketIndex } from './latency-histogram';

/** What one attempt (or a dead-lettering without one) did to a delivery, as the rollups count it. */
export interface RolledUpOutcome {
  endpointId: string;
  applicationId: string;
  at: Date;
  /** delivered: 2xx; failed: failed, another attempt is scheduled; dead: no attempt is left. */
  outcome: 'delivered' | 'failed' | 'dead';
  /** Null when the delivery was dead-lettered without an attempt (disabled endpoint). */
  durationMs: number | null;
  error: string | null;
}

const BUCKET_UPDATES = LATENCY_BUCKET_COLUMNS.map((column) => `"${column}" = m."${column}" + excluded."${column}"`).join(', ');
const BUCKET_LIST = LATENCY_BUCKET_COLUMNS.map((column) => `"${column}"`).join(', ');
const BUCKET_RECORD_TYPES = LATENCY_BUCKET_COLUMNS.map((column) => `"${column}" int`).join(', ');

/**
 * Adds outcomes to their endpoints' minute and hour buckets and to the endpoints' running health. Call it on the
 * transaction that records the outcomes, so metrics and the delivery log never disagree. A batch is summed per
 * bucket first: one statement per table however many outcomes, and each hot row is updated once.
 */
export async function rollUpOutcomes(db: Sql, outcomes: RolledUpOutcome[]): Promise<void> {
  const writes = rollUpWrites(outcomes);
  if (writes.length > 0) await executeWrites(db, writes);
}

/** The writes of rollUpOutcomes, for a caller that runs them in a statement of its own (executeWrites). */
export function rollUpWrites(outcomes: RolledUpOutcome[]): SqlFragment[] {
  if (outcomes.length === 0) return [];
  const health = upsertHealth(outcomes);
  return [...ROLLUPS.map((rollup) => upsertRollup(rollup, sumByBucket(rollup, outcomes))), ...(health ? [health] : [])];
}

export function rollUpOutcome(db: Sql, outcome: RolledUpOutcome): Promise<void> {
  return rollUpOutcomes(db, [outcome]);
}

/** Per-minute rows serve windows up to 6 hours, per-hour rows longer ones (see metrics.service.ts). */
export const ROLLUPS = [
  { table: 'delivery_metrics_minutely', bucketColumn: 'minute', bucketMs: 60_000 },
  { table: 'delivery_metrics_hourly', bucketColumn: 'hour', bucketMs: 3_600_000 },
] as const;
export type Rollup = (typeof ROLLUPS)[number];

interface BucketSum {
  endpoint_id: string;
  bucket: string;
  application_id: string;
  attempts: number;
  delivered: number;
  failed: number;
  dead: number;
  latency_sum_ms: number;
  latency_max_ms: number;
  buckets: number[];
}

function sumByBucket(rollup: Rollup, outcomes: RolledUpOutcome[]): BucketSum[] {
  const sums = new Map<string, BucketSum>();
  for (const outcome of outcomes) {
    const bucket = new Date(Math.floor(outcome.at.getTime() / rollup.bucketMs) * rollup.bucketMs).toISOString();
    const key = `${outcome.endpointId} ${bucket}`;
    let sum = sums.get(key);
    if (!sum) {
      sum = {
        endpoint_id: outcome.endpointId,
        bucket,
        application_id: outcome.applicationId,
        attempts: 0,
        delivered: 0,
        failed: 0,
        dead: 0,
        latency_sum_ms: 0,
        latency_max_ms: 0,
        buckets: LATENCY_BUCKET_COLUMNS.map(() => 0),
      };
      sums.set(key, sum);
    }
    sum[outcome.outcome] += 1;
    if (outcome.durationMs !== null) {
      sum.attempts += 1;
      sum.latency_sum_ms += outcome.durationMs;
      sum.latency_max_ms = Math.max(sum.latency_max_ms, outcome.durationMs);
      sum.buckets[latencyBucketIndex(outcome.durationMs)]! += 1;
    }
  }
  // One order for every writer, so two transactions updating the same buckets cannot deadlock.
  return [...sums.values()].sort((a, b) =>
    a.endpoint_id === b.endpoint_id ? a.bucket.localeCompare(b.bucket) : a.endpoint_id < b.endpoint_id ? -1 : 1,
  );
}

function upsertRollup(rollup: Rollup, sums: BucketSum[]): SqlFragment {
  const rows = sums.map(({ buckets, ...sum }) => ({
    ...sum,
    ...Object.fromEntries(LATENCY_BUCKET_COLUMNS.map((column, index) => [column, buckets[index]])),
  }));
  return {
    text: `insert into ${rollup.table} as m (endpoint_id, ${rollup.bucketColumn}, application_id, attempts, delivered, failed, dead,
                                       latency_sum_ms, latency_max_ms, ${BUCKET_LIST})
     select endpoint_id, bucket, application_id, attempts, delivered, failed, dead, latency_sum_ms, latency_max_ms, ${BUCKET_LIST}
     from json_to_recordset(?::json) as r(endpoint_id text, bucket timestamptz, application_id text, attempts int, delivered int,
                                          failed int, dead int, latency_sum_ms bigint, latency_max_ms int, ${BUCKET_RECORD_TYPES})
     on conflict (endpoint_id, ${rollup.bucketColumn}) do update set
       attempts = m.attempts + excluded.attempts, delivered = m.delivered + excluded.delivered,
       failed = m.failed + excluded.failed, dead = m.dead + excluded.dead,
       latency_sum_ms = m.latency_sum_ms + excluded.latency_sum_ms,
       latency_max_ms = greatest(m.latency_max_ms, excluded.latency_max_ms), ${BUCKET_UPDATES}`,
    params: [JSON.stringify(rows)],
  };
}

/**
 * The running health per endpoint, as if the outcomes were applied one by one: a success resets the count of
 * consecutive failures, each failure adds one. An outcome without an attempt (a disabled endpoint) says
 * nothing about the endpoint's health.
 */
function upsertHealth(outcomes: RolledUpOutcome[]): SqlFragment | null {
  const health = new Map<
    string,
    {
      endpoint_id: string;
      failures_since_success: number;
      last_success_at: Date | null;
      last_error: string | null;
      last_error_at: Date | null;
    }
  >();
  for (const outcome of outcomes) {
    if (outcome.durationMs === null) continue;
    let row = health.get(outcome.endpointId);
    if (!row) {
      row = { endpoint_id: outcome.endpointId, failures_since_success: 0, last_success_at: null, last_error: null, last_error_at: null };
      health.set(outcome.endpointId, row);
    }
    if (outcome.outcome === 'delivered') {
      row.failures_since_success = 0;
      row.last_success_at = outcome.at;
    } else {
      row.failures_since_success += 1;
      row.last_error = outcome.error;
      row.last_error_at = outcome.at;
    }
  }
  if (health.size === 0) return null;
  const rows = [...health.values()].sort((a, b) => (a.endpoint_id < b.endpoint_id ? -1 : 1));
  // A row with a success in the batch restarts the count from the failures after it; one without adds to it.
  return {
    text: `insert into endpoint_health as h (endpoint_id, consecutive_failures, last_success_at, last_error, last_error_at)
     select endpoint_id, failures_since_success, last_success_at, last_error, last_error_at
     from json_to_recordset(?::json) as r(endpoint_id text, failures_since_success int, last_success_at timestamptz,
                                          last_error text, last_error_at timestamptz)
     on conflict (endpoint_id) do update set
       consecutive_failures = case when excluded.last_success_at is not null then excluded.consecutive_failures
                                   else h.consecutive_failures + excluded.consecutive_failures end,
       last_success_at = coalesce(excluded.last_success_at, h.last_success_at),
       last_error = case when excluded.last_error_at is not null then excluded.last_error else h.last_error end,
       last_error_at = coalesce(excluded.last_error_at, h.last_error_at)`,
    params: [JSON.stringify(rows)],
  };
}
