/**
 * The fixed latency buckets of the delivery rollups, in milliseconds (upper bounds, inclusive). Each
 * bucket is its own column of delivery_metrics_minutely (migration Migration20261129400000_metrics), so
 * summing a window is a plain SUM per column. Changing this list needs a migration.
 */
export const LATENCY_BUCKETS_MS = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000] as const;

/** Column names, one per finite bucket plus the overflow bucket. */
export const LATENCY_BUCKET_COLUMNS = [...LATENCY_BUCKETS_MS.map((bound) => `latency_le_${bound}`), 'latency_le_inf'];

/** Index of the bucket a duration falls in (the last index is the overflow bucket). */
export function latencyBucketIndex(durationMs: number): number {
  const index = LATENCY_BUCKETS_MS.findIndex((bound) => durationMs <= bound);
  return index === -1 ? LATENCY_BUCKETS_MS.length : index;
}

/**
 * Estimates a quantile from bucket counts by linear interpolation inside the bucket that holds it, as
 * Prometheus's histogram_quantile does. The overflow bucket interpolates up to the largest value seen.
 * Returns null when there is nothing to measure.
 */
export function latencyQuantile(counts: readonly number[], quantile: number, maxMs: number): number | null {
  const total = counts.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = quantile * total;
  let cumulative = 0;
  for (let index = 0; index < counts.length; index += 1) {
    const count = counts[index] ?? 0;
    if (count > 0 && cumulative + count >= rank) {
      const lower = index === 0 ? 0 : (LATENCY_BUCKETS_MS[index - 1] ?? 0);
      const upper = Math.min(LATENCY_BUCKETS_MS[index] ?? maxMs, Math.max(maxMs, lower));
      const within = (rank - cumulative) / count;
      return Math.round((lower + (upper - lower) * within) * 10) / 10;
    }
    cumulative += count;
  }
  return maxMs;
}
