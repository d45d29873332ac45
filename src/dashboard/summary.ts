import { $ } from './dom';

export interface MetricsPoint {
  at: string;
  perMinute: number;
  delivered: number;
  failed: number;
  dead: number;
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}
export interface EndpointHealth {
  endpointId: string;
  url: string;
  enabled: boolean;
  state: string;
  successRate: number | null;
  consecutiveFailures: number;
  lastError: string | null;
  disabledReason: string | null;
}
export interface Metrics {
  total: number;
  delivered: number;
  failed: number;
  dead: number;
  successRate: number | null;
  latency: { p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  throughput: MetricsPoint[];
  queue: { pending: number; scheduled: number; oldestPendingAgeSeconds: number | null };
  endpoints: EndpointHealth[];
}

export const percent = (rate: number | null) => (rate === null ? '–' : `${(rate * 100).toFixed(1)}%`);
const ms = (value: number | null) => (value === null ? '–' : `${Math.round(value)}`);
const age = (seconds: number | null) =>
  seconds === null
    ? 'none'
    : seconds < 90
      ? `${Math.round(seconds)} s`
      : seconds < 5400
        ? `${Math.round(seconds / 60)} min`
        : `${(seconds / 3600).toFixed(1)} h`;

/**
 * The summary cards. Part of the page's first script, so the numbers are on screen as soon as the
 * first metrics answer arrives, before the charts' code has loaded.
 */
export function showSummary(metrics: Metrics): void {
  $('stat-total').textContent = String(metrics.total);
  $('stat-delivered').textContent = String(metrics.delivered);
  $('stat-failed').textContent = String(metrics.failed);
  $('stat-dead').textContent = String(metrics.dead);
  $('stat-success').textContent = percent(metrics.successRate);
  $('stat-latency').textContent = `${ms(metrics.latency.p50Ms)} / ${ms(metrics.latency.p95Ms)} / ${ms(metrics.latency.p99Ms)} ms`;
  $('stat-queue').textContent = `${metrics.queue.pending} / ${metrics.queue.scheduled}`;
  $('stat-oldest').textContent = age(metrics.queue.oldestPendingAgeSeconds);
  $('stats').dataset.total = String(metrics.total);
  // How long the first load took, from navigation start to metrics on screen (the benchmark reads it).
  if (document.body.dataset.firstMetricsMs === undefined) {
    performance.mark('herald:first-metrics-shown');
    document.body.dataset.firstMetricsMs = String(Math.round(performance.now()));
  }
}
