/**
 * A token bucket per API key, in this process's memory: `perMinute` tokens refill evenly, up to `burst`
 * saved. Several API processes each keep their own buckets (documented in docs/security.md).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();
  private readonly ratePerMs: number;

  constructor(
    private readonly options: { perMinute: number; burst: number },
    private readonly now: () => number = Date.now,
  ) {
    this.ratePerMs = options.perMinute / 60_000;
  }

  /** Takes one token; returns 0 when allowed, or how many seconds until a token is available. */
  take(key: string): number {
    if (this.options.perMinute <= 0) return 0;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.options.burst, updatedAt: now };
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + (now - bucket.updatedAt) * this.ratePerMs);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 100_000) this.evictFull(now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerMs / 1000));
  }

  /** Buckets that have refilled completely carry no information; drop them so memory stays bounded. */
  private evictFull(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * this.ratePerMs >= this.options.burst) this.buckets.delete(key);
    }
  }
}
