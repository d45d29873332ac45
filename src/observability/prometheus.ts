import type pg from 'pg';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LATENCY_BUCKETS_MS, LATENCY_BUCKET_COLUMNS } from '../modules/metrics/latency-histogram';
import { bearerToken } from '../graphql/bearer-token';
import { constantTimeEqual } from '../delivery/signature';

interface Snapshot {
  outcomes: { delivered: number; failed: number; dead: number };
  /** HTTP attempts made; those that succeeded are `outcomes.delivered`. */
  attempts: number;
  latency: { buckets: number[]; sumMs: number; count: number };
}

/** A metric whose values come from the last database snapshot, in prom-client's custom-metric shape. */
interface SnapshotMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: 'sum';
    values: Array<{ value: number; labels: Record<string, string>; metricName?: string }>;
  };
  reset(): void;
}

/**
 * Prometheus exposition for /metrics. Delivery figures are read from the rollups and the open
 * deliveries at scrape time, so every API process reports the whole system, whichever process delivered.
 */
export class HeraldPrometheus {
  readonly registry = new Registry();
  private snapshot: Snapshot = {
    outcomes: { delivered: 0, failed: 0, dead: 0 },
    attempts: 0,
    latency: { buckets: [], sumMs: 0, count: 0 },
  };
  private readonly queueDepth: Gauge<'state'>;
  private readonly retrying: Gauge;
  private readonly deadLetters: Gauge;
  private readonly oldestPendingAge: Gauge;
  private readonly endpoints: Gauge<'state'>;

  constructor(private readonly pool: pg.Pool) {
    collectDefaultMetrics({ register: this.registry, prefix: 'herald_' });
    // Kept as it was for existing dashboards and alerts; its HELP now says what each label counts.
    this.registerSnapshotMetric(
      'herald_deliveries_total',
      'Deprecated, counts attempt outcomes: delivered = attempts that succeeded, failed = failed attempts with a retry scheduled ' +
        '(one per attempt, not per delivery), dead = dead-letterings. Use herald_deliveries_delivered_total, ' +
        'herald_deliveries_dead_lettered_total and herald_delivery_attempts_total.',
      'counter',
      () => (['delivered', 'failed', 'dead'] as const).map((outcome) => ({ value: this.snapshot.outcomes[outcome], labels: { outcome } })),
    );
    this.registerSnapshotMetric(
      'herald_deliveries_delivered_total',
      'Deliveries delivered: a 2xx answer finished them (one per delivery; one sent again after it had succeeded counts again).',
      'counter',
      () => [{ value: this.snapshot.outcomes.delivered, labels: {} }],
    );
    this.registerSnapshotMetric(
      'herald_deliveries_dead_lettered_total',
      'Deliveries dead-lettered: no attempt left, or the endpoint disabled (one per dead-lettering; a dead letter replayed and ' +
        'dead-lettered again counts again). The dead letters there are now: herald_dead_letters.',
      'counter',
      () => [{ value: this.snapshot.outcomes.dead, labels: {} }],
    );
    this.registerSnapshotMetric(
      'herald_delivery_attempts_total',
      'HTTP attempts made, by result: succeeded (2xx) or failed (not 2xx, a timeout, a network error; retried or dead-lettered after).',
      'counter',
      () => [
        { value: this.snapshot.outcomes.delivered, labels: { result: 'succeeded' } },
        { value: Math.max(0, this.snapshot.attempts - this.snapshot.outcomes.delivered), labels: { result: 'failed' } },
      ],
    );
    this.registerSnapshotMetric('herald_attempt_duration_seconds', 'Duration of delivery attempts.', 'histogram', () => {
      const { buckets, sumMs, count } = this.snapshot.latency;
      let cumulative = 0;
      const values = LATENCY_BUCKET_COLUMNS.map((_, index) => {
        cumulative += buckets[index] ?? 0;
        const bound = LATENCY_BUCKETS_MS[index];
        return {
          value: cumulative,
          labels: { le: bound === undefined ? '+Inf' : String(bound / 1000) },
          metricName: 'herald_attempt_duration_seconds_bucket',
        };
      });
      values.push({ value: sumMs / 1000, labels: {} as { le: string }, metricName: 'herald_attempt_duration_seconds_sum' });
      values.push({ value: count, labels: {} as { le: string }, metricName: 'herald_attempt_duration_seconds_count' });
      return values;
    });
    this.queueDepth = new Gauge({
      name: 'herald_queue_depth',
      help: 'Unfinished deliveries now: pending (waiting for an attempt) and scheduled (a retry scheduled after a failed attempt).',
      labelNames: ['state'],
      registers: [this.registry],
    });
    this.retrying = new Gauge({
      name: 'herald_deliveries_retrying',
      help: 'Deliveries waiting for a retry now: their last attempt failed and another is scheduled (FAILED).',
      registers: [this.registry],
    });
    this.deadLetters = new Gauge({
      name: 'herald_dead_letters',
      help: 'Deliveries that are dead letters now (DEAD): dead-lettered and not retried or replayed since.',
      registers: [this.registry],
    });
    this.oldestPendingAge = new Gauge({
      name: 'herald_oldest_pending_delivery_age_seconds',
      help: 'Age of the oldest unfinished delivery (0 when none).',
      registers: [this.registry],
    });
    this.endpoints = new Gauge({
      name: 'herald_endpoints',
      help: 'Endpoints by health state.',
      labelNames: ['state'],
      registers: [this.registry],
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads the database once and renders every metric. */
  async render(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  private async refresh(): Promise<void> {
    const sums = LATENCY_BUCKET_COLUMNS.map((column) => `coalesce(sum("${column}"), 0) as "${column}"`).join(', ');
    const [totals, queue, endpoints, dead] = await Promise.all([
      this.pool.query<Record<string, string>>(
        `select coalesce(sum(delivered), 0) as delivered, coalesce(sum(failed), 0) as failed, coalesce(sum(dead), 0) as dead,
                coalesce(sum(attempts), 0) as attempts, coalesce(sum(latency_sum_ms), 0) as latency_sum_ms, ${sums}
         from delivery_metrics_minutely`,
      ),
      this.pool.query<{ pending: string; scheduled: string; age: number | null }>(
        `select count(*) filter (where status = 'PENDING') as pending, count(*) filter (where status = 'FAILED') as scheduled,
                extract(epoch from now() - min(created_at))::float8 as age
         from open_deliveries`,
      ),
      this.pool.query<{ state: string; n: string }>(
        `select case when not e.enabled then 'disabled' when coalesce(h.consecutive_failures, 0) >= 3 then 'failing'
                     when coalesce(h.consecutive_failures, 0) > 0 then 'degraded' else 'healthy' end as state, count(*) as n
         from endpoints e left join endpoint_health h on h.endpoint_id = e.id group by 1`,
      ),
      this.pool.query<{ n: string }>(`select count(*) as n from dead_deliveries`),
    ]);
    const row = totals.rows[0] ?? {};
    this.snapshot = {
      outcomes: { delivered: Number(row.delivered ?? 0), failed: Number(row.failed ?? 0), dead: Number(row.dead ?? 0) },
      attempts: Number(row.attempts ?? 0),
      latency: {
        buckets: LATENCY_BUCKET_COLUMNS.map((column) => Number(row[column] ?? 0)),
        sumMs: Number(row.latency_sum_ms ?? 0),
        count: Number(row.attempts ?? 0),
      },
    };
    const depth = queue.rows[0];
    this.queueDepth.set({ state: 'pending' }, Number(depth?.pending ?? 0));
    this.queueDepth.set({ state: 'scheduled' }, Number(depth?.scheduled ?? 0));
    this.retrying.set(Number(depth?.scheduled ?? 0));
    this.deadLetters.set(Number(dead.rows[0]?.n ?? 0));
    this.oldestPendingAge.set(depth?.age ?? 0);
    const counts = Object.fromEntries(endpoints.rows.map((r) => [r.state, Number(r.n)]));
    for (const state of ['healthy', 'degraded', 'failing', 'disabled']) this.endpoints.set({ state }, counts[state] ?? 0);
  }

  /** Registers a metric whose values are read from the last snapshot when the registry renders. */
  private registerSnapshotMetric(
    name: string,
    help: string,
    type: 'counter' | 'histogram',
    values: () => Array<{ value: number; labels: Record<string, string>; metricName?: string }>,
  ): void {
    const metric: SnapshotMetric = {
      name,
      help,
      type,
      aggregator: 'sum',
      get: () => ({ name, help, type, aggregator: 'sum', values: values() }),
      reset: () => undefined,
    };
    // prom-client's types want one of its own classes; a custom metric needs only this shape.
    this.registry.registerMetric(metric as never);
  }
}

/** Whether a scrape may read /metrics: always when no token is configured (METRICS_TOKEN), else only with it as a bearer token. */
export function scrapeAllowed(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const presented = bearerToken(authorization);
  return presented !== undefined && constantTimeEqual(presented, token);
}
