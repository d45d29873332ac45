import { describe, expect, it } from 'vitest';
import { detectApiKey } from '../../bench/lib/herald-process';
import { arrivalSchedule, computeLedger, percentiles, rateInWindow, seededRandom } from '../../bench/lib/stats';

describe('the benchmark ledger', () => {
  it('balances when every published event reached every endpoint, counting duplicates apart', () => {
    const receipts = [
      { seq: 0, endpoint: 0 },
      { seq: 0, endpoint: 1 },
      { seq: 1, endpoint: 1 },
      { seq: 1, endpoint: 0 },
      { seq: 1, endpoint: 0 },
    ];
    expect(computeLedger([0, 1], 2, receipts)).toEqual({
      publishedEvents: 2,
      expected: 4,
      received: 4,
      missing: 0,
      duplicates: 1,
      strays: 0,
      balanced: true,
    });
  });

  it('voids a run with a missing delivery', () => {
    const ledger = computeLedger([0, 1, 2], 1, [
      { seq: 0, endpoint: 0 },
      { seq: 2, endpoint: 0 },
    ]);
    expect(ledger).toMatchObject({ expected: 3, received: 2, missing: 1, balanced: false });
    expect(ledger.received + ledger.missing).toBe(ledger.expected);
  });

  it('voids a run with deliveries of events that were never published, or to an endpoint out of range', () => {
    const ledger = computeLedger([0], 1, [
      { seq: 0, endpoint: 0 },
      { seq: 7, endpoint: 0 },
      { seq: 0, endpoint: 3 },
    ]);
    expect(ledger).toMatchObject({ received: 1, missing: 0, strays: 2, balanced: false });
  });

  it('counts an event published twice in the input once', () => {
    expect(computeLedger([4, 4], 1, [{ seq: 4, endpoint: 0 }])).toMatchObject({ publishedEvents: 1, expected: 1, balanced: true });
  });

  it('rejects a fan-out that is not a positive integer', () => {
    expect(() => computeLedger([], 0, [])).toThrow(/fan-out/);
  });
});

describe('benchmark percentiles', () => {
  it('uses nearest rank on 1..100', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentiles(samples)).toEqual({ count: 100, min: 1, p50: 50, p90: 90, p95: 95, p99: 99, p999: 100, max: 100, mean: 50.5 });
  });

  it('handles one sample and none', () => {
    expect(percentiles([3.5])).toMatchObject({ p50: 3.5, p99: 3.5, max: 3.5 });
    expect(percentiles([])).toBeNull();
  });

  it('sorts numerically, not as text', () => {
    expect(percentiles([10, 9, 100, 2])?.p50).toBe(9);
  });
});

describe('the open-loop arrival schedule', () => {
  it('spaces fixed arrivals evenly at the rate', () => {
    const schedule = arrivalSchedule(100, 1000, 'fixed');
    expect(schedule).toHaveLength(100);
    expect(schedule[1]! - schedule[0]!).toBeCloseTo(10);
  });

  it('draws Poisson arrivals with the right mean rate, reproducibly from a seed', () => {
    const schedule = arrivalSchedule(1000, 60_000, 'poisson', seededRandom(42));
    expect(schedule.length).toBeGreaterThan(59_000);
    expect(schedule.length).toBeLessThan(61_000);
    expect(arrivalSchedule(1000, 60_000, 'poisson', seededRandom(42))).toEqual(schedule);
    expect(schedule.every((t, i) => i === 0 || t >= schedule[i - 1]!)).toBe(true);
    const gaps = schedule.slice(1).map((t, i) => t - schedule[i]!);
    // Exponential gaps: the standard deviation equals the mean (1 ms).
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const sd = Math.sqrt(gaps.reduce((a, b) => a + (b - mean) ** 2, 0) / gaps.length);
    expect(sd / mean).toBeGreaterThan(0.95);
    expect(sd / mean).toBeLessThan(1.05);
  });

  it('counts the rate inside a window only', () => {
    expect(rateInWindow([0, 500, 999, 1000, 1500], 0, 1000)).toBe(3);
    expect(rateInWindow([1, 2], 5, 5)).toBe(0);
  });
});

describe('API key detection in Herald output', () => {
  it('finds a key in a JSON log field or in plain text', () => {
    expect(detectApiKey('{"level":40,"adminApiKey":"hk_live_0123456789abcdef","msg":"admin key created"}')).toBe(
      'hk_live_0123456789abcdef',
    );
    expect(detectApiKey('{"level":30,"msg":"Admin API key: hk_0123456789abcdefXYZ (shown once)"}')).toBe('hk_0123456789abcdefXYZ');
    expect(detectApiKey('admin key = herald_abcdefghijklmnop1234')).toBe('herald_abcdefghijklmnop1234');
  });

  it('finds nothing in ordinary lines', () => {
    expect(detectApiKey('{"level":30,"msg":"Herald API listening","url":"http://127.0.0.1:4000"}')).toBeNull();
    expect(detectApiKey('{"level":30,"msg":"api key verified","keyId":"k1"}')).toBeNull();
  });
});
