import type { EntityManager } from '@mikro-orm/postgresql';
import { execute } from '../../db/sql';
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

/**
 * Adds one outcome to its endpoint's minute and hour buckets and to the endpoint's running health. Call it on the
 * transaction that records the outcome, so metrics and the delivery log never disagree.
 */
export async function rollUpOutcome(em: EntityManager, outcome: RolledUpOutcome): Promise<void> {
  const attempted = outcome.durationMs !== null;
  for (const rollup of ROLLUPS) {
    await upsertRollup(em, rollup, new Date(Math.floor(outcome.at.getTime() / rollup.bucketMs) * rollup.bucketMs), outcome);
  }
  // An outcome without an attempt (a disabled endpoint) says nothing about the endpoint's health.
  if (!attempted) return;
  if (outcome.outcome === 'delivered') {
    await execute(
      em,
      `insert into endpoint_health as h (endpoint_id, consecutive_failures, last_success_at) values (?, 0, ?)
       on conflict (endpoint_id) do update set consecutive_failures = 0, last_success_at = excluded.last_success_at`,
      [outcome.endpointId, outcome.at],
    );
  } else {
    await execute(
      em,
      `insert into endpoint_health as h (endpoint_id, consecutive_failures, last_error, last_error_at) values (?, 1, ?, ?)
       on conflict (endpoint_id) do update set consecutive_failures = h.consecutive_failures + 1,
         last_error = excluded.last_error, last_error_at = excluded.last_error_at`,
      [outcome.endpointId, outcome.error, outcome.at],
    );
  }
}

/** Per-minute rows serve windows up to 6 hours, per-hour rows longer ones (see metrics.service.ts). */
export const ROLLUPS = [
  { table: 'delivery_metrics_minutely', bucketColumn: 'minute', bucketMs: 60_000 },
  { table: 'delivery_metrics_hourly', bucketColumn: 'hour', bucketMs: 3_600_000 },
] as const;
export type Rollup = (typeof ROLLUPS)[number];

async function upsertRollup(em: EntityManager, rollup: Rollup, bucket: Date, outcome: RolledUpOutcome): Promise<void> {
  const attempted = outcome.durationMs !== null;
  const buckets = LATENCY_BUCKET_COLUMNS.map(() => 0);
  if (outcome.durationMs !== null) buckets[latencyBucketIndex(outcome.durationMs)] = 1;
  await execute(
    em,
    `insert into ${rollup.table} as m (endpoint_id, ${rollup.bucketColumn}, application_id, attempts, delivered, failed, dead,
                                       latency_sum_ms, latency_max_ms, ${LATENCY_BUCKET_COLUMNS.map((c) => `"${c}"`).join(', ')})
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ${buckets.map(() => '?').join(', ')})
     on conflict (endpoint_id, ${rollup.bucketColumn}) do update set
       attempts = m.attempts + excluded.attempts, delivered = m.delivered + excluded.delivered,
       failed = m.failed + excluded.failed, dead = m.dead + excluded.dead,
       latency_sum_ms = m.latency_sum_ms + excluded.latency_sum_ms,
       latency_max_ms = greatest(m.latency_max_ms, excluded.latency_max_ms), ${BUCKET_UPDATES}`,
    [
      outcome.endpointId,
      bucket,
      outcome.applicationId,
      attempted ? 1 : 0,
      outcome.outcome === 'delivered' ? 1 : 0,
      outcome.outcome === 'failed' ? 1 : 0,
      outcome.outcome === 'dead' ? 1 : 0,
      outcome.durationMs ?? 0,
      outcome.durationMs ?? 0,
      ...buckets,
    ],
  );
}
