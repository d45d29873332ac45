import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/graphql/rate-limiter';

describe('RateLimiter: a token bucket per key', () => {
  it('allows the burst, then refuses with the seconds until the next token, then refills at the rate', () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 60, burst: 3 }, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(1);
    // Other keys have their own bucket.
    expect(limiter.take('b')).toBe(0);
    now += 1000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1);
    now += 60_000;
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0, 1]);
  });

  it('is off when perMinute is 0', () => {
    const limiter = new RateLimiter({ perMinute: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) expect(limiter.take('a')).toBe(0);
  });

  it('tells a slow rate how long to wait', () => {
    const limiter = new RateLimiter({ perMinute: 2, burst: 1 }, () => 0);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(30);
  });
});
