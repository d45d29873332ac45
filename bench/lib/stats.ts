/**
 * Pure accounting for the benchmark: the delivery ledger, latency percentiles and the open-loop arrival
 * schedule. No I/O here, so the rules that decide whether a run counts are unit-tested on synthetic input.
 */

/** One receipt at a receiver: which published event (by sequence number) reached which endpoint. */
export interface Receipt {
  seq: number;
  endpoint: number;
}

export interface Ledger {
  /** Events whose publish call succeeded. */
  publishedEvents: number;
  /** Deliveries owed: every published event times the endpoints it fans out to. */
  expected: number;
  /** Distinct (event, endpoint) pairs that arrived. */
  received: number;
  /** Owed deliveries that never arrived. */
  missing: number;
  /** Extra arrivals of a pair already received (at-least-once redelivery). */
  duplicates: number;
  /** Arrivals for an event that was never published (or an endpoint out of range): a broken harness or system. */
  strays: number;
  /** published x fan-out = received + missing, nothing lost and nothing stray. A run that does not balance is void. */
  balanced: boolean;
}

/**
 * Matches what was received against what was published. `published` holds the sequence numbers whose
 * publish call succeeded; each owes one delivery per endpoint `0..fanout-1`.
 */
export function computeLedger(published: Iterable<number>, fanout: number, receipts: Iterable<Receipt>): Ledger {
  if (!Number.isInteger(fanout) || fanout < 1) throw new Error(`fan-out must be a positive integer, got ${fanout}`);
  const owed = new Map<number, Uint16Array>();
  for (const seq of published) {
    if (!owed.has(seq)) owed.set(seq, new Uint16Array(fanout));
  }
  let received = 0;
  let duplicates = 0;
  let strays = 0;
  for (const { seq, endpoint } of receipts) {
    const counts = owed.get(seq);
    if (!counts || !Number.isInteger(endpoint) || endpoint < 0 || endpoint >= fanout) {
      strays++;
      continue;
    }
    if (counts[endpoint]! === 0) received++;
    else duplicates++;
    counts[endpoint] = Math.min(counts[endpoint]! + 1, 0xffff);
  }
  const expected = owed.size * fanout;
  const missing = expected - received;
  return {
    publishedEvents: owed.size,
    expected,
    received,
    missing,
    duplicates,
    strays,
    balanced: received + missing === expected && missing === 0 && strays === 0,
  };
}

export interface Percentiles {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles (the value below which `p` percent of the samples fall, inclusive). */
export function percentiles(samples: ArrayLike<number>): Percentiles | null {
  const n = samples.length;
  if (n === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  const rank = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i]!;
  return {
    count: n,
    min: sorted[0]!,
    p50: rank(50),
    p90: rank(90),
    p95: rank(95),
    p99: rank(99),
    p999: rank(99.9),
    max: sorted[n - 1]!,
    mean: sum / n,
  };
}

export type ArrivalProcess = 'fixed' | 'poisson';

/**
 * Offsets (ms from the start) at which requests are due, for a constant `rate` per second over
 * `durationMs`. `fixed` spaces them evenly; `poisson` draws exponential gaps with the same mean.
 * The schedule alone decides when each request is sent, never the previous response (no coordinated omission).
 */
export function arrivalSchedule(rate: number, durationMs: number, process: ArrivalProcess, random: () => number = Math.random): number[] {
  if (!(rate > 0)) throw new Error(`rate must be positive, got ${rate}`);
  const gap = 1000 / rate;
  const times: number[] = [];
  if (process === 'fixed') {
    for (let t = 0; t < durationMs; t += gap) times.push(t);
    return times;
  }
  for (let t = -gap * Math.log(1 - random()); t < durationMs; t += -gap * Math.log(1 - random())) times.push(t);
  return times;
}

/** A small deterministic PRNG (mulberry32) so Poisson schedules are reproducible from a seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Receipts per second whose receive time falls inside [startMs, endMs). */
export function rateInWindow(timesMs: ArrayLike<number>, startMs: number, endMs: number): number {
  if (endMs <= startMs) return 0;
  let count = 0;
  for (let i = 0; i < timesMs.length; i++) {
    const t = timesMs[i]!;
    if (t >= startMs && t < endMs) count++;
  }
  return count / ((endMs - startMs) / 1000);
}
