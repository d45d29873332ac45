/**
 * How many retries a worker process runs at once, adapted to what they cost first attempts (docs/delivery-policy.md).
 * A bound on retries' concurrency alone does not protect first attempts: retries to a fast receiver take CPU and
 * database time from them whatever the bound (measured: 12 retry slots of 128 still made fresh first attempts' p99
 * 4 to 7 times what it was alone). So the bound moves, additive increase and multiplicative decrease, on one signal:
 * how long a first attempt's start transaction takes (`observe`), in windows of at least `windowMs` and `minSamples`.
 * - A window whose median is more than `tolerance` times the baseline (plus `slackMs`) while retries ran: halve.
 * - Otherwise, while retries are waiting for the bound: one more (with no first attempts to measure: a quarter more).
 * The baseline is the lowest window median, rising 1% a window so that it follows a database that got slower.
 */
export interface RetryGovernorOptions {
  /** The most retries at once (RETRY_CONCURRENCY_SHARE of WORKER_CONCURRENCY). */
  max: number;
  /** The bound to start from (default 1: a storm's first retries are let in one window at a time). */
  initial?: number;
  windowMs?: number;
  minSamples?: number;
  tolerance?: number;
  slackMs?: number;
  now?: () => number;
}

export class RetryGovernor {
  private current: number;
  private baselineMs: number | null = null;
  private samples: number[] = [];
  private windowStart: number;
  /** Whether a retry ran, and whether retries waited for the bound, during this window. */
  private retriesRan = false;
  private retriesWaited = false;
  private readonly windowMs: number;
  private readonly minSamples: number;
  private readonly tolerance: number;
  private readonly slackMs: number;
  private readonly now: () => number;

  constructor(private readonly options: RetryGovernorOptions) {
    this.current = Math.min(options.max, Math.max(1, options.initial ?? 1));
    this.windowMs = options.windowMs ?? 250;
    this.minSamples = options.minSamples ?? 8;
    this.tolerance = options.tolerance ?? 1.5;
    this.slackMs = options.slackMs ?? 1;
    this.now = options.now ?? (() => performance.now());
    this.windowStart = this.now();
  }

  /** The bound now: between 1 and `max`. */
  get limit(): number {
    return this.current;
  }

  get baseline(): number | null {
    return this.baselineMs;
  }

  /** A first attempt's start took `ms`. */
  observe(ms: number): void {
    this.samples.push(ms);
    this.maybeAdjust();
  }

  /** Retries are running (`waited`: and more wanted a slot). Called as retries start and end. */
  retryActivity(waited: boolean): void {
    this.retriesRan = true;
    if (waited) this.retriesWaited = true;
    this.maybeAdjust();
  }

  private maybeAdjust(): void {
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs) return;
    // Too few first attempts to judge: wait for more, up to four windows, then judge the window as without any.
    if (this.samples.length > 0 && this.samples.length < this.minSamples && elapsed < 4 * this.windowMs) return;
    const median = this.samples.length >= this.minSamples ? medianOf(this.samples) : null;
    if (median !== null) this.baselineMs = this.baselineMs === null ? median : Math.min(this.baselineMs * 1.01, median);
    const congested =
      median !== null && this.retriesRan && this.baselineMs !== null && median > this.baselineMs * this.tolerance + this.slackMs;
    if (congested) this.current = Math.max(1, Math.floor(this.current / 2));
    else if (this.retriesWaited) {
      const step = median === null ? Math.max(1, Math.floor(this.current / 4)) : 1;
      this.current = Math.min(this.options.max, this.current + step);
    }
    this.samples = [];
    this.retriesRan = false;
    this.retriesWaited = false;
    this.windowStart = now;
  }
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
