import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, toDate } from '../../db/sql';
import type { Clock } from '../../lib/clock';
import { notFound } from '../../lib/errors';
import { ROLLUPS, type Rollup } from './delivery-rollup';
import { LATENCY_BUCKET_COLUMNS, latencyQuantile } from './latency-histogram';
import { type MetricsWindow, WINDOW_SPANS } from './metrics-window';

export interface MetricsScope {
  applicationId?: string | null;
  endpointId?: string | null;
}

/**
 * What the rollups count, one per attempt outcome (and one per dead-lettering without an attempt):
 * `attempts` HTTP attempts made, `delivered` attempts that succeeded (each finishes its delivery),
 * `failed` failed attempts after which a retry was scheduled, `dead` dead-letterings. A dead letter that is
 * retried or replayed later stays counted in `dead`, so these are attempts and events, not deliveries.
 */
export interface OutcomeCounts {
  attempts: number;
  delivered: number;
  failed: number;
  dead: number;
}

/**
 * The same window counted in deliveries: each delivery finished in the window once, by its outcome now.
 * `deliveriesDeadLettered` counts the deliveries dead-lettered in the window that are still dead letters
 * (read from dead_deliveries), so one retried or replayed since counts by its later outcome.
 */
export interface DeliveryCounts {
  deliveriesDelivered: number;
  deliveriesDeadLettered: number;
  /** deliveriesDelivered / (deliveriesDelivered + deliveriesDeadLettered); null when none finished. */
  deliverySuccessRate: number | null;
  /** Attempts that failed (not 2xx, a timeout, a network error), retried or dead-lettered after. */
  failedAttempts: number;
}

export interface LatencySummary {
  averageMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

export interface MetricsPoint extends OutcomeCounts, DeliveryCounts, LatencySummary {
  at: Date;
  /** Outcomes per minute over this point's step. */
  perMinute: number;
  successRate: number | null;
}

export const EndpointHealthState = {
  HEALTHY: 'HEALTHY',
  DEGRADED: 'DEGRADED',
  FAILING: 'FAILING',
  DISABLED: 'DISABLED',
} as const;
export type EndpointHealthState = (typeof EndpointHealthState)[keyof typeof EndpointHealthState];

export interface EndpointHealth extends OutcomeCounts, DeliveryCounts {
  endpointId: string;
  applicationId: string;
  url: string;
  enabled: boolean;
  state: EndpointHealthState;
  successRate: number | null;
  consecutiveFailures: number;
  consecutiveDeadLetters: number;
  lastError: string | null;
  lastErrorAt: Date | null;
  lastSuccessAt: Date | null;
  disabledReason: string | null;
}

export interface QueueDepth {
  pending: number;
  scheduled: number;
  oldestPendingAt: Date | null;
  oldestPendingAgeSeconds: number | null;
}

export interface Metrics extends OutcomeCounts, DeliveryCounts {
  window: MetricsWindow;
  from: Date;
  to: Date;
  stepSeconds: number;
  /** delivered + failed + dead: every outcome recorded in the window (attempts and dead-letterings). */
  total: number;
  /** delivered / total: an attempt-outcome ratio, kept for compatibility (see deliverySuccessRate). */
  successRate: number | null;
  /** Deliveries waiting for a retry now (FAILED), whenever they started. */
  deliveriesRetrying: number;
  latency: LatencySummary;
  throughput: MetricsPoint[];
  queue: QueueDepth;
  endpoints: EndpointHealth[];
}

/** Endpoints listed with their health in one answer; the worst come first. */
export const MAX_ENDPOINTS_IN_METRICS = 200;
/** Failed attempts in a row after which an endpoint counts as failing rather than degraded. */
const FAILING_AFTER_FAILURES = 3;

type Row = Record<string, string | number | boolean | Date | null>;

const num = (value: unknown): number => (value === null || value === undefined ? 0 : Number(value));
const ratio = (part: number, whole: number): number | null => (whole === 0 ? null : Math.round((part / whole) * 10_000) / 10_000);
const rate = (counts: OutcomeCounts): number | null => ratio(counts.delivered, counts.delivered + counts.failed + counts.dead);

/** The delivery counts of rolled-up outcomes and the dead letters still dead from the same window. */
function deliveryCounts(counts: OutcomeCounts, deadLettered: number): DeliveryCounts {
  return {
    deliveriesDelivered: counts.delivered,
    deliveriesDeadLettered: deadLettered,
    deliverySuccessRate: ratio(counts.delivered, counts.delivered + deadLettered),
    failedAttempts: Math.max(0, counts.attempts - counts.delivered),
  };
}

/** Dead letters still dead, per endpoint and step (the `at` of the step they were dead-lettered in). */
interface DeadLetterRow {
  endpoint_id: string;
  at: string | Date;
  n: number | string;
}

/**
 * Metrics over a window, read from the per-minute or per-hour rollups (delivery_metrics_minutely/_hourly), the open
 * deliveries and the dead letters of the window (open_deliveries, dead_deliveries) and the endpoints: never from the
 * delivery log as a whole, so the cost follows the window, the endpoints and the backlog, not the number of deliveries
 * stored.
 *
 * The rollups count attempts and dead-letterings as they happen; a dead letter retried or replayed later stays in
 * them. So the dead letters of the window are counted from the dead letters' index instead (deliveriesDeadLettered):
 * each delivery finished in the window then counts once, as delivered or as dead-lettered, by its outcome now.
 */
export class MetricsService {
  constructor(
    private readonly em: EntityManager,
    private readonly clock: Clock,
  ) {}

  async metrics(window: MetricsWindow, scope: MetricsScope): Promise<Metrics> {
    await this.checkScope(scope);
    const span = WINDOW_SPANS[window];
    const to = this.clock.now();
    const stepMs = span.stepSeconds * 1000;
    // Points are aligned on whole steps; the first one may start a little before the window does.
    const from = new Date(Math.floor((to.getTime() - span.seconds * 1000) / stepMs) * stepMs + stepMs);
    const rollup = span.stepSeconds >= 3600 ? ROLLUPS[1] : ROLLUPS[0];
    const [series, endpoints, { queue, deadLetters }] = await Promise.all([
      this.series(rollup, scope, from, span.stepSeconds),
      this.endpointHealth(rollup, scope, from),
      this.deliveriesNow(scope, from, span.stepSeconds, to),
    ]);
    const deadByStep = new Map<number, number>();
    const deadByEndpoint = new Map<string, number>();
    let deadLettered = 0;
    for (const row of deadLetters) {
      const at = toDate(row.at).getTime();
      deadByStep.set(at, (deadByStep.get(at) ?? 0) + num(row.n));
      deadByEndpoint.set(row.endpoint_id, (deadByEndpoint.get(row.endpoint_id) ?? 0) + num(row.n));
      deadLettered += num(row.n);
    }
    for (const endpoint of endpoints) Object.assign(endpoint, deliveryCounts(endpoint, deadByEndpoint.get(endpoint.endpointId) ?? 0));
    const throughput = this.fillSeries(series, deadByStep, from, to, span.stepSeconds);
    const counts = { attempts: 0, delivered: 0, failed: 0, dead: 0 };
    const buckets = LATENCY_BUCKET_COLUMNS.map(() => 0);
    let latencySum = 0;
    let latencyMax = 0;
    for (const row of series) {
      counts.attempts += num(row.attempts);
      counts.delivered += num(row.delivered);
      counts.failed += num(row.failed);
      counts.dead += num(row.dead);
      latencySum += num(row.latency_sum_ms);
      latencyMax = Math.max(latencyMax, num(row.latency_max_ms));
      LATENCY_BUCKET_COLUMNS.forEach((column, index) => (buckets[index] = (buckets[index] ?? 0) + num(row[column])));
    }
    return {
      window,
      from,
      to,
      stepSeconds: span.stepSeconds,
      ...counts,
      total: counts.delivered + counts.failed + counts.dead,
      successRate: rate(counts),
      ...deliveryCounts(counts, deadLettered),
      deliveriesRetrying: queue.scheduled,
      latency: summarise(buckets, latencySum, latencyMax),
      throughput,
      queue,
      endpoints,
    };
  }

  private async checkScope(scope: MetricsScope): Promise<void> {
    if (scope.applicationId) {
      const [row] = await execute(this.em, 'select 1 from applications where id = ?', [scope.applicationId]);
      if (!row) throw notFound('application', scope.applicationId);
    }
    if (scope.endpointId) {
      // Within an application, an endpoint of another application does not exist.
      const [row] = scope.applicationId
        ? await execute(this.em, 'select 1 from endpoints where id = ? and application_id = ?', [scope.endpointId, scope.applicationId])
        : await execute(this.em, 'select 1 from endpoints where id = ?', [scope.endpointId]);
      if (!row) throw notFound('endpoint', scope.endpointId);
    }
  }

  private scopeSql(scope: MetricsScope, alias: string): { sql: string; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (scope.applicationId) {
      clauses.push(`${alias}.application_id = ?`);
      params.push(scope.applicationId);
    }
    if (scope.endpointId) {
      clauses.push(`${alias}.endpoint_id = ?`);
      params.push(scope.endpointId);
    }
    return { sql: clauses.map((clause) => ` and ${clause}`).join(''), params };
  }

  private async series(rollup: Rollup, scope: MetricsScope, from: Date, stepSeconds: number): Promise<Row[]> {
    const where = this.scopeSql(scope, 'm');
    const bucketSums = LATENCY_BUCKET_COLUMNS.map((column) => `sum(m."${column}") as "${column}"`).join(', ');
    return execute<Row>(
      this.em,
      `select date_bin(?::interval, m.${rollup.bucketColumn}, timestamptz 'epoch') as at, sum(m.attempts) as attempts,
              sum(m.delivered) as delivered, sum(m.failed) as failed, sum(m.dead) as dead,
              sum(m.latency_sum_ms) as latency_sum_ms, max(m.latency_max_ms) as latency_max_ms, ${bucketSums}
       from ${rollup.table} m
       where m.${rollup.bucketColumn} >= ?${where.sql}
       group by 1 order by 1`,
      [`${stepSeconds} seconds`, from, ...where.params],
    );
  }

  private fillSeries(rows: Row[], deadByStep: Map<number, number>, from: Date, to: Date, stepSeconds: number): MetricsPoint[] {
    const stepMs = stepSeconds * 1000;
    const byTime = new Map(rows.map((row) => [toDate(row.at as string | Date).getTime(), row]));
    const points: MetricsPoint[] = [];
    for (let at = from.getTime(); at <= to.getTime(); at += stepMs) {
      const row = byTime.get(at);
      const counts = {
        attempts: num(row?.attempts),
        delivered: num(row?.delivered),
        failed: num(row?.failed),
        dead: num(row?.dead),
      };
      const buckets = LATENCY_BUCKET_COLUMNS.map((column) => num(row?.[column]));
      points.push({
        at: new Date(at),
        ...counts,
        perMinute: Math.round(((counts.delivered + counts.failed + counts.dead) / (stepSeconds / 60)) * 100) / 100,
        successRate: rate(counts),
        ...deliveryCounts(counts, deadByStep.get(at) ?? 0),
        ...summarise(buckets, num(row?.latency_sum_ms), num(row?.latency_max_ms)),
      });
    }
    return points;
  }

  private async endpointHealth(rollup: Rollup, scope: MetricsScope, from: Date): Promise<EndpointHealth[]> {
    const where = this.scopeSql({ applicationId: scope.applicationId, endpointId: null }, 'e');
    const endpointClause = scope.endpointId ? ' and e.id = ?' : '';
    const rows = await execute<Row>(
      this.em,
      `select e.id, e.application_id, e.url, e.enabled, e.disabled_reason, e.consecutive_dead_letters,
              coalesce(h.consecutive_failures, 0) as consecutive_failures, h.last_error, h.last_error_at, h.last_success_at,
              coalesce(w.attempts, 0) as attempts, coalesce(w.delivered, 0) as delivered,
              coalesce(w.failed, 0) as failed, coalesce(w.dead, 0) as dead
       from endpoints e
       left join endpoint_health h on h.endpoint_id = e.id
       left join lateral (
         select sum(m.attempts) as attempts, sum(m.delivered) as delivered, sum(m.failed) as failed, sum(m.dead) as dead
         from ${rollup.table} m where m.endpoint_id = e.id and m.${rollup.bucketColumn} >= ?
       ) w on true
       where true${where.sql}${endpointClause}
       order by e.enabled asc, coalesce(h.consecutive_failures, 0) desc, e.id desc
       limit ${MAX_ENDPOINTS_IN_METRICS}`,
      [from, ...where.params, ...(scope.endpointId ? [scope.endpointId] : [])],
    );
    return rows.map((row) => {
      const counts = { attempts: num(row.attempts), delivered: num(row.delivered), failed: num(row.failed), dead: num(row.dead) };
      const successRate = rate(counts);
      const consecutiveFailures = num(row.consecutive_failures);
      const enabled = row.enabled === true;
      return {
        endpointId: String(row.id),
        applicationId: String(row.application_id),
        url: String(row.url),
        enabled,
        state: healthState(enabled, consecutiveFailures, successRate),
        successRate,
        ...counts,
        // The dead letters still dead are counted in metrics(), from one query for every endpoint.
        ...deliveryCounts(counts, 0),
        consecutiveFailures,
        consecutiveDeadLetters: num(row.consecutive_dead_letters),
        lastError: (row.last_error as string | null) ?? null,
        lastErrorAt: row.last_error_at ? toDate(row.last_error_at as string | Date) : null,
        lastSuccessAt: row.last_success_at ? toDate(row.last_success_at as string | Date) : null,
        disabledReason: (row.disabled_reason as string | null) ?? null,
      };
    });
  }

  /**
   * What the deliveries say now, in one statement: the open deliveries (queue depth and the oldest, from
   * open_deliveries) and the deliveries dead-lettered since `from` that are dead letters still, per endpoint and step
   * (from dead_deliveries by endpoint and time of death; retrying or replaying a dead letter takes it out), so the
   * cost follows the backlog and the dead letters of the window, not the deliveries stored.
   */
  private async deliveriesNow(
    scope: MetricsScope,
    from: Date,
    stepSeconds: number,
    now: Date,
  ): Promise<{ queue: QueueDepth; deadLetters: DeadLetterRow[] }> {
    const endpoints = this.scopeSql({ applicationId: scope.applicationId, endpointId: null }, 'e');
    const endpointClause = scope.endpointId ? ' and e.id = ?' : '';
    const open = this.scopeSql(scope, 'd');
    const [row] = await execute<Row & { dead_letters: DeadLetterRow[] | null }>(
      this.em,
      `with dead as (
         select d.endpoint_id, date_bin(?::interval, d.dead_at, timestamptz 'epoch') as at, count(*) as n
         from endpoints e
         join dead_deliveries d on d.endpoint_id = e.id and d.dead_at >= ?
         where true${endpoints.sql}${endpointClause}
         group by 1, 2
       )
       select count(*) filter (where d.status = 'PENDING') as pending, count(*) filter (where d.status = 'FAILED') as scheduled,
              min(d.created_at) as oldest, (select json_agg(dead) from dead) as dead_letters
       from open_deliveries d where true${open.sql}`,
      [`${stepSeconds} seconds`, from, ...endpoints.params, ...(scope.endpointId ? [scope.endpointId] : []), ...open.params],
    );
    const oldest = row?.oldest ? toDate(row.oldest as string | Date) : null;
    return {
      queue: {
        pending: num(row?.pending),
        scheduled: num(row?.scheduled),
        oldestPendingAt: oldest,
        oldestPendingAgeSeconds: oldest ? Math.max(0, Math.round((now.getTime() - oldest.getTime()) / 100) / 10) : null,
      },
      deadLetters: row?.dead_letters ?? [],
    };
  }
}

function summarise(buckets: number[], latencySum: number, latencyMax: number): LatencySummary {
  const measured = buckets.reduce((sum, count) => sum + count, 0);
  if (measured === 0) return { averageMs: null, p50Ms: null, p95Ms: null, p99Ms: null, maxMs: null };
  return {
    averageMs: Math.round((latencySum / measured) * 10) / 10,
    p50Ms: latencyQuantile(buckets, 0.5, latencyMax),
    p95Ms: latencyQuantile(buckets, 0.95, latencyMax),
    p99Ms: latencyQuantile(buckets, 0.99, latencyMax),
    maxMs: latencyMax,
  };
}

function healthState(enabled: boolean, consecutiveFailures: number, successRate: number | null): EndpointHealthState {
  if (!enabled) return EndpointHealthState.DISABLED;
  if (consecutiveFailures >= FAILING_AFTER_FAILURES) return EndpointHealthState.FAILING;
  if (consecutiveFailures > 0 || (successRate !== null && successRate < 0.95)) return EndpointHealthState.DEGRADED;
  return EndpointHealthState.HEALTHY;
}
