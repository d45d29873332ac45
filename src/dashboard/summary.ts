import { $ } from './dom';

export interface MetricsPoint {
  at: string;
  deliveriesDelivered: number;
  deliveriesDeadLettered: number;
  failedAttempts: number;
  deliverySuccessRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}
export interface EndpointHealth {
  endpointId: string;
  url: string;
  enabled: boolean;
  state: string;
  deliverySuccessRate: number | null;
  deliveriesDelivered: number;
  deliveriesDeadLettered: number;
  consecutiveFailures: number;
  lastError: string | null;
  disabledReason: string | null;
}
/** Deliveries count each delivery once (by its outcome now); attempts are HTTP requests, retries included. */
export interface Metrics {
  deliveriesDelivered: number;
  deliveriesDeadLettered: number;
  deliveriesRetrying: number;
  deliverySuccessRate: number | null;
  attempts: number;
  failedAttempts: number;
  stepSeconds: number;
  latency: { p50Ms: number | null; p95Ms: number | null; p99Ms: number | null };
  throughput: MetricsPoint[];
  queue: { pending: number; scheduled: number; oldestPendingAgeSeconds: number | null };
  endpoints: EndpointHealth[];
}

export const percent = (rate: number | null) => (rate === null ? '–' : `${(rate * 100).toFixed(1)}%`);
export const ms = (value: number | null) => (value === null ? '–' : `${Math.round(value)} ms`);
const age = (seconds: number | null) =>
  seconds === null
    ? '–'
    : seconds < 90
      ? `${Math.round(seconds)} s`
      : seconds < 5400
        ? `${Math.round(seconds / 60)} min`
        : `${(seconds / 3600).toFixed(1)} h`;

/** The tone of a success rate: what an operator should make of it at a glance. */
export const rateTone = (rate: number | null) =>
  rate === null ? 'neutral' : rate >= 0.99 ? 'success' : rate >= 0.95 ? 'warning' : 'danger';

const count = (value: number) => value.toLocaleString('en-US');

/**
 * The summary cards. Part of the page's first script, so the numbers are on screen as soon as the
 * first metrics answer arrives, before the charts' code has loaded.
 */
export function showSummary(metrics: Metrics): void {
  const finished = metrics.deliveriesDelivered + metrics.deliveriesDeadLettered;
  $('stat-delivered').textContent = count(metrics.deliveriesDelivered);
  $('stat-dead').textContent = count(metrics.deliveriesDeadLettered);
  $('stat-retrying').textContent = count(metrics.deliveriesRetrying);
  $('stat-success').textContent = percent(metrics.deliverySuccessRate);
  $('card-success').dataset.tone = rateTone(metrics.deliverySuccessRate);
  $('card-dead').dataset.tone = metrics.deliveriesDeadLettered > 0 ? 'danger' : 'neutral';
  $('card-retrying').dataset.tone = metrics.deliveriesRetrying > 0 ? 'warning' : 'neutral';
  $('stat-attempts').textContent = count(metrics.attempts);
  $('stat-failed-attempts').textContent = count(metrics.failedAttempts);
  $('stat-latency').textContent = ms(metrics.latency.p50Ms);
  const { p95Ms, p99Ms } = metrics.latency;
  $('stat-latency-tail').textContent = p95Ms === null ? 'per attempt' : `p95 ${Math.round(p95Ms)} · p99 ${Math.round(p99Ms ?? p95Ms)} ms`;
  $('stat-queue').textContent = count(metrics.queue.pending);
  $('stat-oldest').textContent = age(metrics.queue.oldestPendingAgeSeconds);
  const windowSelect = $<HTMLSelectElement>('window-select');
  $('stats-window').textContent = `Last ${windowSelect.selectedOptions[0]?.textContent ?? ''}`;
  $('stats').dataset.total = String(finished);
  // How long the first load took, from navigation start to metrics on screen (the benchmark reads it).
  if (document.body.dataset.firstMetricsMs === undefined) {
    performance.mark('herald:first-metrics-shown');
    document.body.dataset.firstMetricsMs = String(Math.round(performance.now()));
  }
}
