import { describe, expect, it } from 'vitest';
import {
  LATENCY_BUCKETS_MS,
  LATENCY_BUCKET_COLUMNS,
  latencyBucketIndex,
  latencyQuantile,
} from '../../src/modules/metrics/latency-histogram';

describe('latency histogram of the rollups', () => {
  it('puts a duration in the first bucket whose bound holds it, the overflow bucket past the last', () => {
    expect(LATENCY_BUCKET_COLUMNS).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    expect(latencyBucketIndex(0)).toBe(0);
    expect(latencyBucketIndex(10)).toBe(0);
    expect(latencyBucketIndex(11)).toBe(1);
    expect(latencyBucketIndex(30_000)).toBe(LATENCY_BUCKETS_MS.length - 1);
    expect(latencyBucketIndex(30_001)).toBe(LATENCY_BUCKETS_MS.length);
  });

  it('estimates quantiles by interpolating inside the bucket, as histogram_quantile does', () => {
    const counts = LATENCY_BUCKET_COLUMNS.map(() => 0);
    counts[latencyBucketIndex(60)] = 100; // 100 attempts between 50 and 100 ms
    expect(latencyQuantile(counts, 0.5, 100)).toBe(75);
    expect(latencyQuantile(counts, 0.99, 100)).toBe(99.5);
    // Never beyond the largest duration seen: the bucket's top is capped by it.
    expect(latencyQuantile(counts, 0.5, 60)).toBe(55);
    counts[latencyBucketIndex(40_000)] = 100; // and 100 past 30 s, the largest 45 s
    expect(latencyQuantile(counts, 0.25, 45_000)).toBe(75);
    expect(latencyQuantile(counts, 0.75, 45_000)).toBe(37_500);
    expect(
      latencyQuantile(
        LATENCY_BUCKET_COLUMNS.map(() => 0),
        0.5,
        0,
      ),
    ).toBeNull();
  });
});
