import uPlot from 'uplot';
import { HeraldApi } from './api';
import { $, el } from './dom';
import * as Q from './queries';
import { type EndpointHealth, type Metrics, percent, showSummary } from './summary';

interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
}
interface DeliveryUpdate {
  delivery: {
    id: string;
    eventId: string;
    endpointId: string;
    eventType: string;
    status: string;
    attemptCount: number;
    lastStatusCode: number | null;
    updatedAt: string;
  };
  attempt: { number: number; responseStatus: number | null; durationMs: number; errorMessage: string | null; attemptedAt: string } | null;
}
interface Replay {
  id: string;
  status: 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';
  matched: number;
  requeued: number;
  error: string | null;
}

interface DeadLetter {
  id: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  attemptCount: number;
  lastError: string | null;
  lastStatusCode: number | null;
  createdAt: string;
}

const FEED_LIMIT = 200;

/**
 * What the page's first script already asked for, with the scope it asked in (an application key's
 * own application, or every application for an admin key), so the dashboard does not ask again.
 */
export interface FirstLoad {
  metrics: Promise<{ metrics: Metrics }>;
  endpoints: Promise<{ endpoints: { nodes: Endpoint[] } }>;
  window: string;
}

class Dashboard {
  private applicationId: string | null = null;
  private window = 'LAST_15_MINUTES';
  private endpoints = new Map<string, Endpoint>();
  private health = new Map<string, EndpointHealth>();
  private unsubscribe: Array<() => void> = [];
  private charts: { throughput: uPlot; success: uPlot; latency: uPlot } | null = null;
  private deadTimer: number | null = null;

  constructor(private readonly api: HeraldApi) {}

  async start(applications: Array<{ id: string; name: string }>, first: FirstLoad): Promise<void> {
    const select = $<HTMLSelectElement>('app-select');
    select.replaceChildren();
    // An application key sees exactly one application: it is the whole scope, with no "all" choice.
    if (applications.length !== 1) select.append(el('option', { value: '' }, 'All applications'));
    for (const application of applications)
      select.append(el('option', { value: application.id }, `${application.name} (${application.id})`));
    this.applicationId = applications.length === 1 ? (applications[0]?.id ?? null) : null;
    select.onchange = () => {
      this.applicationId = select.value || null;
      void this.reload();
    };
    const windowSelect = $<HTMLSelectElement>('window-select');
    this.window = windowSelect.value;
    windowSelect.onchange = (event) => {
      this.window = (event.target as HTMLSelectElement).value;
      void this.reload();
    };
    this.wireForms();
    // The first answers were asked for without an application id: the key's own application for an
    // application key, every application for an admin key, which is the same as the one preselected
    // when there is only one. They stand unless the window was changed in the meantime.
    await this.reload(first.window === this.window ? first : undefined);
    // After the first data: the WebSocket handshake does not compete with the first requests.
    this.api.onConnection((connected) => {
      const badge = $('live-status');
      badge.textContent = connected ? 'live' : 'reconnecting…';
      badge.classList.toggle('live', connected);
    });
  }

  private async reload(first?: FirstLoad): Promise<void> {
    for (const stop of this.unsubscribe.splice(0)) stop();
    $('feed').replaceChildren();
    const scope = { applicationId: this.applicationId };
    const [{ metrics }] = await Promise.all([
      first?.metrics ?? this.api.request<{ metrics: Metrics }>(Q.METRICS, { ...scope, window: this.window }),
      this.loadEndpoints(first?.endpoints),
      this.loadDeadLetters(),
    ]);
    this.showMetrics(metrics);
    this.unsubscribe.push(
      this.api.subscribe<{ metricsUpdated: Metrics }>(
        Q.METRICS_UPDATED,
        { ...scope, window: this.window },
        (data) => this.showMetrics(data.metricsUpdated),
        (error) => this.showError(error),
      ),
      this.api.subscribe<{ deliveryUpdated: DeliveryUpdate }>(
        Q.DELIVERY_UPDATED,
        scope,
        (data) => this.onDelivery(data.deliveryUpdated),
        (error) => this.showError(error),
      ),
    );
  }

  private showError(error: unknown): void {
    $('error-banner').textContent = error instanceof Error ? error.message : String(error);
  }

  private showMetrics(metrics: Metrics): void {
    showSummary(metrics);
    this.health = new Map(metrics.endpoints.map((endpoint) => [endpoint.endpointId, endpoint]));
    this.renderEndpoints();
    // Built once the first numbers are on screen: building the charts is the page's longest task.
    this.charts ??= this.createCharts();
    const x = metrics.throughput.map((point) => new Date(point.at).getTime() / 1000);
    const orNull = (value: number | null) => value as number;
    this.setChart(
      'chart-throughput',
      this.charts.throughput,
      [x, metrics.throughput.map((p) => p.delivered), metrics.throughput.map((p) => p.failed), metrics.throughput.map((p) => p.dead)],
      metrics.total,
    );
    this.setChart(
      'chart-success',
      this.charts.success,
      [x, metrics.throughput.map((p) => (p.successRate === null ? orNull(null) : p.successRate * 100))],
      metrics.total,
    );
    this.setChart(
      'chart-latency',
      this.charts.latency,
      [x, metrics.throughput.map((p) => orNull(p.p50Ms)), metrics.throughput.map((p) => orNull(p.p95Ms))],
      metrics.total,
    );
  }

  /** Charts carry what they plot as data attributes, so a test (or a curious operator) can read them. */
  private setChart(id: string, chart: uPlot, data: number[][], total: number): void {
    chart.setData(data as uPlot.AlignedData);
    const container = $(id);
    container.dataset.updates = String(Number(container.dataset.updates ?? '0') + 1);
    container.dataset.total = String(total);
    container.dataset.points = String(data[0]?.length ?? 0);
    container.dataset.nonEmptyPoints = String((data[1] ?? []).filter((value) => value !== null && value !== 0).length);
  }

  private createCharts() {
    const make = (id: string, series: uPlot.Series[]) => {
      const container = $(id);
      const options: uPlot.Options = {
        width: Math.max(300, container.clientWidth || 400),
        height: 180,
        series: [{}, ...series],
        axes: [{}, {}],
        legend: { show: true },
      };
      return new uPlot(options, [[], ...series.map(() => [])] as unknown as uPlot.AlignedData, container);
    };
    return {
      throughput: make('chart-throughput', [
        { label: 'delivered', stroke: '#13795b', fill: 'rgba(19,121,91,0.15)' },
        { label: 'failed', stroke: '#b26a00' },
        { label: 'dead', stroke: '#c0262d' },
      ]),
      success: make('chart-success', [{ label: 'success %', stroke: '#3355cc', spanGaps: true }]),
      latency: make('chart-latency', [
        { label: 'p50', stroke: '#3355cc', spanGaps: true },
        { label: 'p95', stroke: '#c0262d', spanGaps: true },
      ]),
    };
  }

  private onDelivery(update: DeliveryUpdate): void {
    const { delivery, attempt } = update;
    const endpoint = this.endpoints.get(delivery.endpointId);
    const row = el(
      'tr',
      {
        class: 'feed-row',
        'data-delivery-id': delivery.id,
        'data-event-id': delivery.eventId,
        'data-status': delivery.status,
        'data-received-at': String(Date.now()),
      },
      el('td', {}, new Date(attempt?.attemptedAt ?? delivery.updatedAt).toLocaleTimeString()),
      el('td', { class: `status-${delivery.status}` }, delivery.status),
      el('td', {}, delivery.eventType),
      el('td', {}, endpoint?.url ?? delivery.endpointId),
      el('td', {}, attempt ? String(attempt.number) : '–'),
      el('td', {}, attempt?.responseStatus ? String(attempt.responseStatus) : (attempt?.errorMessage ?? '–')),
      el('td', {}, attempt ? String(attempt.durationMs) : '–'),
    );
    row.onclick = () => void this.showEvent(delivery.eventId);
    const feed = $('feed');
    feed.prepend(row);
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild?.remove();
    if (delivery.status === 'DEAD' || delivery.status === 'SUCCEEDED' || delivery.status === 'PENDING') this.scheduleDeadLetters();
  }

  private scheduleDeadLetters(): void {
    if (this.deadTimer !== null) return;
    this.deadTimer = window.setTimeout(() => {
      this.deadTimer = null;
      void this.loadDeadLetters();
    }, 300);
  }

  private async loadEndpoints(preloaded?: FirstLoad['endpoints']): Promise<void> {
    const { endpoints } = await (preloaded ??
      this.api.request<{ endpoints: { nodes: Endpoint[] } }>(Q.ENDPOINTS, { applicationId: this.applicationId }));
    this.endpoints = new Map(endpoints.nodes.map((endpoint) => [endpoint.id, endpoint]));
    const deadSelect = $<HTMLSelectElement>('dead-endpoint');
    const chosen = deadSelect.value;
    deadSelect.replaceChildren(
      el('option', { value: '' }, 'every endpoint'),
      ...endpoints.nodes.map((endpoint) => el('option', { value: endpoint.id }, endpoint.url)),
    );
    deadSelect.value = chosen;
    this.renderEndpoints();
  }

  private renderEndpoints(): void {
    const rows = [...this.endpoints.values()].map((endpoint) => {
      const health = this.health.get(endpoint.id);
      const state = health?.state ?? (endpoint.enabled ? 'HEALTHY' : 'DISABLED');
      const button = (label: string, action: () => Promise<unknown>) => {
        const element = el('button', { type: 'button', 'data-action': label.toLowerCase().replace(/\s+/g, '-') }, label);
        element.onclick = () => void this.act(action);
        return element;
      };
      return el(
        'tr',
        { 'data-endpoint-id': endpoint.id, 'data-state': state },
        el('td', {}, endpoint.url),
        el('td', { class: `state-${state}` }, state, endpoint.disabledReason ? el('div', {}, endpoint.disabledReason) : null),
        el('td', {}, percent(health?.successRate ?? null)),
        el('td', {}, String(health?.consecutiveFailures ?? 0)),
        el('td', {}, health?.lastError ?? ''),
        el('td', {}, endpoint.eventTypes.length ? endpoint.eventTypes.join(', ') : 'all'),
        el(
          'td',
          {},
          endpoint.enabled
            ? button('Disable', () => this.api.request(Q.DISABLE, { id: endpoint.id }))
            : button('Enable', () => this.api.request(Q.ENABLE, { id: endpoint.id })),
          button('Edit filters', async () => {
            const answer = window.prompt('Event types, comma-separated (empty: all)', endpoint.eventTypes.join(', '));
            if (answer === null) return;
            await this.api.request(Q.UPDATE, { id: endpoint.id, input: { eventTypes: splitList(answer) } });
          }),
          button('Rotate secret', async () => {
            const { rotateEndpointSecret } = await this.api.request<{ rotateEndpointSecret: { secret: string } }>(Q.ROTATE, {
              id: endpoint.id,
            });
            $('endpoint-message').textContent = `New signing secret for ${endpoint.url} (shown once): ${rotateEndpointSecret.secret}`;
          }),
          button('Send test', async () => {
            await this.api.request(Q.SEND_TEST, { endpointId: endpoint.id });
            $('endpoint-message').textContent = `Test event sent to ${endpoint.url}.`;
          }),
        ),
      );
    });
    $('endpoints').replaceChildren(...rows);
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    try {
      $('error-banner').textContent = '';
      await action();
      await this.loadEndpoints();
    } catch (error) {
      this.showError(error);
    }
  }

  private deadFilter(): Record<string, unknown> {
    const form = new FormData($<HTMLFormElement>('dead-filter'));
    const filter: Record<string, unknown> = {};
    if (this.applicationId) filter.applicationId = this.applicationId;
    const endpointId = String(form.get('endpointId') ?? '');
    const eventType = String(form.get('eventType') ?? '').trim();
    if (endpointId) filter.endpointId = endpointId;
    if (eventType) filter.eventType = eventType;
    return filter;
  }

  private async loadDeadLetters(): Promise<void> {
    const { deadLetters } = await this.api.request<{ deadLetters: { nodes: DeadLetter[] } }>(Q.DEAD_LETTERS, { filter: this.deadFilter() });
    const rows = deadLetters.nodes.map((dead) => {
      const retry = el('button', { type: 'button', 'data-action': 'retry' }, 'Retry');
      retry.onclick = () => {
        retry.setAttribute('disabled', '');
        retry.textContent = 'Retrying…';
        this.api.request(Q.RETRY, { id: dead.id }).catch((error: unknown) => {
          retry.removeAttribute('disabled');
          retry.textContent = 'Retry';
          this.showError(error);
        });
      };
      const open = el('button', { type: 'button', 'data-action': 'open' }, 'Attempts');
      open.onclick = () => void this.showEvent(dead.eventId);
      return el(
        'tr',
        { 'data-delivery-id': dead.id, 'data-event-id': dead.eventId },
        el('td', {}, new Date(dead.createdAt).toLocaleString()),
        el('td', {}, dead.eventType),
        el('td', {}, this.endpoints.get(dead.endpointId)?.url ?? dead.endpointId),
        el('td', {}, String(dead.attemptCount)),
        el('td', {}, dead.lastError ?? ''),
        el('td', {}, retry, open),
      );
    });
    $('dead-letters').replaceChildren(...rows);
  }

  /**
   * Replays every dead letter the view's filter matches with one replayDeadLetters call: Herald re-queues
   * them in the background, and the progress comes from replayUpdated (with a poll in case an update is
   * missed).
   */
  private async replay(): Promise<void> {
    const progress = $<HTMLProgressElement>('replay-progress');
    const status = $('replay-status');
    const button = $<HTMLButtonElement>('replay');
    button.disabled = true;
    try {
      const { replayDeadLetters: started } = await this.api.request<{ replayDeadLetters: Replay }>(Q.REPLAY, { filter: this.deadFilter() });
      if (started.matched === 0) {
        status.textContent = 'Nothing to replay.';
        return;
      }
      progress.hidden = false;
      const show = (replay: Replay) => {
        progress.max = Math.max(1, replay.matched);
        progress.value = replay.requeued;
        progress.dataset.status = replay.status;
        status.textContent =
          replay.status === 'RUNNING'
            ? `Replaying ${replay.requeued} of ${replay.matched}…`
            : `Replay ${replay.status.toLowerCase()}: ${replay.requeued} of ${replay.matched} re-queued${replay.error ? ` (${replay.error})` : ''}`;
      };
      show(started);
      if (started.status !== 'RUNNING') return;
      await new Promise<void>((resolve) => {
        let done = false;
        const update = (replay: Replay) => {
          if (done) return;
          show(replay);
          if (replay.status === 'RUNNING') return;
          done = true;
          window.clearInterval(poll);
          stop();
          resolve();
        };
        const stop = this.api.subscribe<{ replayUpdated: Replay }>(
          Q.REPLAY_UPDATED,
          { id: started.id },
          (data) => update(data.replayUpdated),
          () => undefined,
        );
        const poll = window.setInterval(() => {
          this.api
            .request<{ replay: Replay }>(Q.REPLAY_PROGRESS, { id: started.id })
            .then((data) => update(data.replay))
            .catch(() => undefined);
        }, 2000);
      });
    } finally {
      button.disabled = false;
      this.scheduleDeadLetters();
    }
  }

  private async showEvent(eventId: string): Promise<void> {
    const panel = $('event-detail');
    try {
      const { event } = await this.api.request<{ event: EventDetail }>(Q.EVENT, { id: eventId });
      const close = el('button', { type: 'button' }, 'Close');
      close.onclick = () => (panel.hidden = true);
      panel.replaceChildren(
        el('h2', {}, `Event ${event.id}`),
        close,
        el('p', {}, `${event.type} · version ${event.version} · ${new Date(event.createdAt).toLocaleString()}`),
        el('pre', { class: 'payload' }, JSON.stringify(event.data, null, 2)),
        ...event.deliveries.map((delivery) =>
          el(
            'div',
            { class: 'delivery', 'data-delivery-id': delivery.id },
            el(
              'h3',
              {},
              `${delivery.endpoint.url} — `,
              el('span', { class: `status-${delivery.status}` }, delivery.status),
              ` after ${delivery.attemptCount} attempt(s)`,
            ),
            ...delivery.attempts.map((attempt) =>
              el(
                'div',
                { class: 'attempt', 'data-attempt': String(attempt.number) },
                el('strong', {}, `Attempt ${attempt.number}`),
                ` ${new Date(attempt.attemptedAt).toLocaleTimeString()} · `,
                el(
                  'span',
                  { class: 'response-status' },
                  attempt.responseStatus ? `HTTP ${attempt.responseStatus}` : (attempt.errorKind ?? 'no response'),
                ),
                ` · ${attempt.durationMs} ms`,
                attempt.errorMessage ? el('div', { class: 'error' }, attempt.errorMessage) : null,
                el('div', {}, 'Request headers'),
                el(
                  'table',
                  { class: 'headers' },
                  ...Object.entries(attempt.requestHeaders).map(([name, value]) =>
                    el('tr', {}, el('td', {}, name), el('td', {}, String(value))),
                  ),
                ),
                el('div', {}, `Response body${attempt.responseBodyTruncated ? ' (truncated)' : ''}`),
                el('pre', { class: 'response-body' }, attempt.responseBody ?? ''),
              ),
            ),
          ),
        ),
      );
      panel.hidden = false;
    } catch (error) {
      this.showError(error);
    }
  }

  private wireForms(): void {
    $<HTMLFormElement>('register-form').onsubmit = (event) => {
      event.preventDefault();
      const form = event.target as HTMLFormElement;
      const data = new FormData(form);
      void this.act(async () => {
        const input: Record<string, unknown> = {
          url: String(data.get('url')),
          eventTypes: splitList(String(data.get('eventTypes') ?? '')),
        };
        const description = String(data.get('description') ?? '').trim();
        if (description) input.description = description;
        if (this.applicationId) input.applicationId = this.applicationId;
        const { registerEndpoint } = await this.api.request<{ registerEndpoint: { secret: string; endpoint: { url: string } } }>(
          Q.REGISTER,
          { input },
        );
        $('endpoint-message').textContent =
          `Registered ${registerEndpoint.endpoint.url}. Signing secret (shown once): ${registerEndpoint.secret}`;
        form.reset();
      });
    };
    $<HTMLFormElement>('dead-filter').onsubmit = (event) => {
      event.preventDefault();
      void this.loadDeadLetters().catch((error: unknown) => this.showError(error));
    };
    $('replay').onclick = () => void this.replay().catch((error: unknown) => this.showError(error));
  }

  stop(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
  }
}

interface EventDetail {
  id: string;
  type: string;
  version: string;
  createdAt: string;
  data: unknown;
  deliveries: Array<{
    id: string;
    status: string;
    attemptCount: number;
    endpoint: { url: string };
    attempts: Array<{
      number: number;
      attemptedAt: string;
      requestHeaders: Record<string, string>;
      responseStatus: number | null;
      responseBody: string | null;
      responseBodyTruncated: boolean;
      durationMs: number;
      errorKind: string | null;
      errorMessage: string | null;
    }>;
  }>;
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/**
 * The full dashboard (charts, live feed, endpoints, dead letters), loaded by the page's first script
 * once the key is accepted. `stop` ends its subscriptions and closes the WebSocket.
 */
export function startDashboard(
  apiKey: string,
  applications: Array<{ id: string; name: string }>,
  first: FirstLoad,
): { started: Promise<void>; stop(): void } {
  const api = new HeraldApi(apiKey);
  const dashboard = new Dashboard(api);
  return {
    started: dashboard.start(applications, first),
    stop: () => {
      dashboard.stop();
      api.dispose();
    },
  };
}
