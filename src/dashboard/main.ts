import uPlot from 'uplot';
import { HeraldApi } from './api';
import { $, el } from './dom';
import * as Q from './queries';
import { type EndpointHealth, type Metrics, type MetricsPoint, ms, percent, rateTone, showSummary } from './summary';

interface Endpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
  paused: boolean;
  /** Deliveries waiting (PENDING or FAILED); while paused, its backlog. */
  pendingDeliveries: number;
}
interface FeedDelivery {
  id: string;
  eventId: string;
  endpointId: string;
  eventType: string;
  status: string;
  attemptCount: number;
  lastStatusCode: number | null;
  updatedAt: string;
}
interface DeliveryUpdate {
  delivery: FeedDelivery;
  attempt: { number: number; responseStatus: number | null; durationMs: number; errorMessage: string | null; attemptedAt: string } | null;
}
/** A delivery as the feed loads it, before live updates: its latest state. */
interface RecentDelivery extends FeedDelivery {
  lastAttemptAt: string | null;
  lastError: string | null;
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

/** One row of the live feed, from a live update or from the latest deliveries loaded with the page. */
interface FeedRow {
  delivery: FeedDelivery;
  at: string;
  attempt: number | null;
  responseStatus: number | null;
  error: string | null;
  durationMs: number | null;
}

const FEED_LIMIT = 200;

/** How a delivery status reads on the page: the words of the summary cards, with a tone. */
const STATUS: Record<string, { label: string; tone: string }> = {
  SUCCEEDED: { label: 'Delivered', tone: 'success' },
  FAILED: { label: 'Retrying', tone: 'warning' },
  DEAD: { label: 'Dead letter', tone: 'danger' },
  PENDING: { label: 'Pending', tone: 'info' },
  CANCELLED: { label: 'Cancelled', tone: 'neutral' },
};
const STATE_TONE: Record<string, string> = { HEALTHY: 'success', DEGRADED: 'warning', FAILING: 'danger', DISABLED: 'neutral' };

function badge(label: string, tone: string, title?: string): HTMLElement {
  return el('span', { class: 'badge', 'data-tone': tone, ...(title ? { title } : {}) }, label);
}
const statusBadge = (status: string) => badge(STATUS[status]?.label ?? status, STATUS[status]?.tone ?? 'neutral', status);

/** A time as an operator scans it: the time of day for today, with the date before that. */
function timeCell(iso: string): HTMLElement {
  const date = new Date(iso);
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const today = date.toDateString() === new Date().toDateString();
  const text = today ? time : `${date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}, ${time}`;
  return el('td', { class: 'time' }, el('time', { datetime: date.toISOString(), title: date.toLocaleString() }, text));
}
const truncated = (text: string, className = '') => el('span', { class: `truncate ${className}`.trim(), title: text }, text);
const dim = (text = '–') => el('span', { class: 'dim' }, text);
function responseCell(status: number | null, error: string | null): HTMLElement {
  if (status) return el('td', {}, el('span', { class: 'code-chip', 'data-tone': status < 300 ? 'success' : 'danger' }, String(status)));
  return el('td', { class: 'error' }, error ? truncated(error) : dim());
}
function button(label: string, action: string, className = 'small'): HTMLButtonElement {
  return el('button', { type: 'button', class: className, 'data-action': action }, label) as HTMLButtonElement;
}

/** Chart colours come from the style sheet's tokens, read again when the system's colour scheme changes. */
interface ChartTheme {
  delivered: string;
  deliveredFill: string;
  dead: string;
  failed: string;
  rate: string;
  p50: string;
  p95: string;
  axis: string;
  grid: string;
  surface: string;
}
function readTheme(): ChartTheme {
  const style = getComputedStyle(document.documentElement);
  const token = (name: string) => style.getPropertyValue(`--${name}`).trim();
  return {
    delivered: token('chart-delivered'),
    deliveredFill: token('chart-delivered-fill'),
    dead: token('chart-dead'),
    failed: token('chart-failed'),
    rate: token('chart-rate'),
    p50: token('chart-p50'),
    p95: token('chart-p95'),
    axis: token('chart-axis'),
    grid: token('chart-grid'),
    surface: token('surface'),
  };
}
const CHART_FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
const CHART_HEIGHT = 190;
type ChartId = 'chart-throughput' | 'chart-success' | 'chart-latency';
interface ChartSeries {
  label: string;
  color: keyof ChartTheme;
  /** The value at a point, and over the whole window when no point is hovered. */
  at(point: MetricsPoint): string;
  overall(metrics: Metrics): string;
}
const CHART_SERIES: Record<ChartId, ChartSeries[]> = {
  'chart-throughput': [
    { label: 'delivered', color: 'delivered', at: (p) => String(p.deliveriesDelivered), overall: (m) => String(m.deliveriesDelivered) },
    {
      label: 'dead-lettered',
      color: 'dead',
      at: (p) => String(p.deliveriesDeadLettered),
      overall: (m) => String(m.deliveriesDeadLettered),
    },
    { label: 'failed attempts', color: 'failed', at: (p) => String(p.failedAttempts), overall: (m) => String(m.failedAttempts) },
  ],
  'chart-success': [
    {
      label: 'delivered ÷ finished',
      color: 'rate',
      at: (p) => percent(p.deliverySuccessRate),
      overall: (m) => percent(m.deliverySuccessRate),
    },
  ],
  'chart-latency': [
    { label: 'p50', color: 'p50', at: (p) => ms(p.p50Ms), overall: (m) => ms(m.latency.p50Ms) },
    { label: 'p95', color: 'p95', at: (p) => ms(p.p95Ms), overall: (m) => ms(m.latency.p95Ms) },
  ],
};
function stepName(seconds: number): string {
  if (seconds % 3600 === 0) return seconds === 3600 ? 'hour' : `${seconds / 3600} hours`;
  return seconds === 60 ? 'minute' : `${seconds / 60} minutes`;
}

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
  private charts: Record<ChartId, uPlot> | null = null;
  private theme: ChartTheme | null = null;
  private metrics: Metrics | null = null;
  private deadTimer: number | null = null;
  /** Live updates that arrive while the latest deliveries are being loaded: shown after them. */
  private pendingUpdates: DeliveryUpdate[] | null = null;
  /** Bumped by every reload, so an answer for an earlier scope is dropped. */
  private generation = 0;
  private inspected: string | null = null;
  private watching = false;

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
  }

  /** The live badge follows the WebSocket, once it is opened (by the first subscriptions). */
  private watchConnection(): void {
    if (this.watching) return;
    this.watching = true;
    this.api.onConnection((connected) => {
      const status = $('live-status');
      status.textContent = connected ? 'Live' : 'Reconnecting…';
      status.classList.toggle('live', connected);
    });
  }

  /**
   * Shows the scope's metrics, then follows them live; meanwhile the feed loads the latest deliveries and
   * then prepends every change (those that arrive while it loads are held and shown after them).
   */
  private async reload(first?: FirstLoad): Promise<void> {
    const generation = ++this.generation;
    for (const stop of this.unsubscribe.splice(0)) stop();
    this.inspect(null);
    $('feed').replaceChildren();
    $('feed-empty').hidden = true;
    const scope = { applicationId: this.applicationId };
    const others = Promise.all([this.loadEndpoints(first?.endpoints), this.loadDeadLetters()]);
    others.catch(() => undefined);
    const { metrics } = await (first?.metrics ?? this.api.request<{ metrics: Metrics }>(Q.METRICS, { ...scope, window: this.window }));
    if (generation !== this.generation) return;
    this.showMetrics(metrics);
    this.pendingUpdates = [];
    // After the first data: the WebSocket handshake does not compete with the first requests.
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
        (data) => (this.pendingUpdates ? this.pendingUpdates.push(data.deliveryUpdated) : this.onDelivery(data.deliveryUpdated)),
        (error) => this.showError(error),
      ),
    );
    this.watchConnection();
    const recent = await this.api
      .request<{ deliveries: { nodes: RecentDelivery[] } }>(Q.RECENT_DELIVERIES, scope)
      .then((answer) => answer.deliveries.nodes)
      .catch((error: unknown) => {
        this.showError(error);
        return [];
      });
    if (generation !== this.generation) return;
    this.showRecent(recent);
    const held = this.pendingUpdates ?? [];
    this.pendingUpdates = null;
    for (const update of held) this.onDelivery(update);
    this.updateFeedEmpty();
    await others;
  }

  private showError(error: unknown): void {
    $('error-banner').textContent = error instanceof Error ? error.message : String(error);
  }

  private showMetrics(metrics: Metrics): void {
    showSummary(metrics);
    this.metrics = metrics;
    this.health = new Map(metrics.endpoints.map((endpoint) => [endpoint.endpointId, endpoint]));
    this.renderEndpoints();
    // Built once the first numbers are on screen: building the charts is the page's longest task.
    this.charts ??= this.createCharts();
    const points = metrics.throughput;
    const x = points.map((point) => new Date(point.at).getTime() / 1000);
    const orNull = (value: number | null) => value as number;
    const finished = metrics.deliveriesDelivered + metrics.deliveriesDeadLettered;
    this.setChart(
      'chart-throughput',
      [x, points.map((p) => p.deliveriesDelivered), points.map((p) => p.deliveriesDeadLettered), points.map((p) => p.failedAttempts)],
      finished,
      finished + metrics.failedAttempts === 0,
    );
    this.setChart(
      'chart-success',
      [x, points.map((p) => (p.deliverySuccessRate === null ? orNull(null) : p.deliverySuccessRate * 100))],
      finished,
      finished === 0,
    );
    this.setChart(
      'chart-latency',
      [x, points.map((p) => orNull(p.p50Ms)), points.map((p) => orNull(p.p95Ms))],
      finished,
      metrics.attempts === 0,
    );
  }

  /** Charts carry what they plot as data attributes, so a test (or a curious operator) can read them. */
  private setChart(id: ChartId, data: number[][], total: number, empty: boolean): void {
    this.charts?.[id].setData(data as uPlot.AlignedData);
    const container = $(id);
    container.dataset.updates = String(Number(container.dataset.updates ?? '0') + 1);
    container.dataset.total = String(total);
    container.dataset.points = String(data[0]?.length ?? 0);
    container.dataset.nonEmptyPoints = String((data[1] ?? []).filter((value) => value !== null && value !== 0).length);
    container.dataset.empty = String(empty);
    // A point stays shown while the cursor is on it, new data or not.
    this.legend(id, this.charts?.[id].cursor.idx ?? null);
  }

  /**
   * The legend under each chart's title: each series with its value over the window, or at the point under
   * the cursor while one is hovered (uPlot's own legend would read "Time: --" the rest of the time).
   */
  private legend(id: ChartId, index: number | null): void {
    const container = document.querySelector<HTMLElement>(`[data-legend="${id}"]`);
    const metrics = this.metrics;
    if (!container || !metrics || !this.theme) return;
    const point = index === null ? undefined : metrics.throughput[index];
    const theme = this.theme;
    container.replaceChildren(
      ...CHART_SERIES[id].map((series) => {
        const item = el(
          'span',
          { class: 'legend-item' },
          el('i', {}),
          series.label,
          el('b', {}, point ? series.at(point) : series.overall(metrics)),
        );
        // Through the CSSOM: the page's Content-Security-Policy allows no style attributes.
        item.style.setProperty('--swatch', theme[series.color]);
        return item;
      }),
    );
    const hint = document.querySelector<HTMLElement>(`[data-chart-hint="${id}"]`);
    if (hint)
      hint.textContent = point
        ? new Date(point.at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
        : `per ${stepName(metrics.stepSeconds)}`;
  }

  private createCharts(): Record<ChartId, uPlot> {
    this.theme = readTheme();
    const theme = () => this.theme ?? readTheme();
    const axis = (format?: (value: number) => string): uPlot.Axis => ({
      stroke: () => theme().axis,
      font: CHART_FONT,
      grid: { stroke: () => theme().grid, width: 1 },
      ticks: { stroke: () => theme().grid, width: 1, size: 4 },
      ...(format ? { values: (_u: uPlot, values: number[]) => values.map(format), size: 60 } : {}),
    });
    const counts = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000];
    const make = (id: ChartId, series: uPlot.Series[], y: Partial<uPlot.Axis>, range: uPlot.Scale['range']) => {
      const container = $(id);
      const options: uPlot.Options = {
        width: Math.max(280, container.clientWidth || 400),
        height: CHART_HEIGHT,
        series: [{}, ...series],
        axes: [axis(), { ...axis(), ...y }],
        scales: { y: { range } },
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 7, width: 2, fill: () => theme().surface } },
        hooks: { setCursor: [(plot) => this.legend(id, plot.cursor.idx ?? null)] },
      };
      const plot = new uPlot(options, [[], ...series.map(() => [])] as unknown as uPlot.AlignedData, container);
      // The width follows the panel's: a resized window or an opened inspector redraws the chart to fit.
      new ResizeObserver(() => {
        const width = Math.max(280, container.clientWidth);
        if (width !== plot.width) plot.setSize({ width, height: CHART_HEIGHT });
      }).observe(container);
      return plot;
    };
    const line = (label: string, color: keyof ChartTheme, extra: Partial<uPlot.Series> = {}): uPlot.Series => ({
      label,
      stroke: () => theme()[color],
      width: 2,
      points: { size: 5, width: 2, fill: () => theme().surface },
      ...extra,
    });
    const charts: Record<ChartId, uPlot> = {
      'chart-throughput': make(
        'chart-throughput',
        [
          line('delivered', 'delivered', { fill: () => theme().deliveredFill, points: { show: false } }),
          line('dead-lettered', 'dead', { points: { show: false } }),
          line('failed attempts', 'failed', { dash: [4, 4], width: 1.5, points: { show: false } }),
        ],
        { incrs: counts },
        (_u, _min, max) => [0, Math.max(4, Math.ceil((max ?? 0) * 1.15))],
      ),
      'chart-success': make(
        'chart-success',
        [line('success %', 'rate', { spanGaps: true })],
        axis((v) => `${v}%`),
        [0, 100],
      ),
      'chart-latency': make(
        'chart-latency',
        [line('p50', 'p50', { spanGaps: true }), line('p95', 'p95', { spanGaps: true })],
        { ...axis((v) => `${v} ms`), incrs: [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 30_000] },
        (_u, _min, max) => [0, Math.max(10, Math.ceil((max ?? 0) * 1.15))],
      ),
    };
    // Dark or light as the system says, switching while the page is open.
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      this.theme = readTheme();
      for (const [id, plot] of Object.entries(charts) as Array<[ChartId, uPlot]>) {
        plot.redraw(false);
        this.legend(id, null);
      }
    });
    return charts;
  }

  /**
   * The latest deliveries in scope as the feed starts: the newest 20, in the order of their last change (the
   * feed's order), the latest first.
   */
  private showRecent(deliveries: RecentDelivery[]): void {
    const at = (delivery: RecentDelivery) => new Date(delivery.lastAttemptAt ?? delivery.updatedAt).getTime();
    const latestFirst = deliveries
      .map((delivery, index) => ({ delivery, index }))
      .sort((a, b) => at(b.delivery) - at(a.delivery) || a.index - b.index);
    const rows = latestFirst.map(({ delivery }) =>
      this.feedRow(
        {
          delivery,
          at: delivery.lastAttemptAt ?? delivery.updatedAt,
          attempt: delivery.status === 'PENDING' || delivery.attemptCount === 0 ? null : delivery.attemptCount,
          responseStatus: delivery.status === 'PENDING' ? null : delivery.lastStatusCode,
          error: delivery.status === 'PENDING' ? null : delivery.lastError,
          durationMs: null,
        },
        false,
      ),
    );
    $('feed').append(...rows);
    this.updateFeedEmpty();
  }

  private onDelivery(update: DeliveryUpdate): void {
    const { delivery, attempt } = update;
    const feed = $('feed');
    // The same state of the same delivery is shown once (it may be in the latest deliveries loaded too).
    const key = feedKey(delivery);
    for (const row of feed.querySelectorAll<HTMLElement>('tr.feed-row')) if (row.dataset.key === key) row.remove();
    feed.prepend(
      this.feedRow(
        {
          delivery,
          at: attempt?.attemptedAt ?? delivery.updatedAt,
          attempt: attempt?.number ?? null,
          responseStatus: attempt?.responseStatus ?? null,
          error: attempt?.errorMessage ?? null,
          durationMs: attempt?.durationMs ?? null,
        },
        true,
      ),
    );
    while (feed.children.length > FEED_LIMIT) feed.lastElementChild?.remove();
    this.updateFeedEmpty();
    if (delivery.status === 'DEAD' || delivery.status === 'SUCCEEDED' || delivery.status === 'PENDING') this.scheduleDeadLetters();
  }

  private feedRow(item: FeedRow, fresh: boolean): HTMLElement {
    const { delivery } = item;
    const endpoint = this.endpoints.get(delivery.endpointId);
    const row = el(
      'tr',
      {
        class: fresh ? 'feed-row fresh' : 'feed-row',
        'data-delivery-id': delivery.id,
        'data-event-id': delivery.eventId,
        'data-status': delivery.status,
        'data-key': feedKey(delivery),
        'data-source': fresh ? 'live' : 'recent',
        'data-at': new Date(item.at).toISOString(),
        'data-received-at': String(Date.now()),
      },
      timeCell(item.at),
      el('td', {}, statusBadge(delivery.status)),
      el('td', { class: 'mono' }, truncated(delivery.eventType)),
      el('td', { class: 'url', 'data-endpoint-id': delivery.endpointId }, truncated(endpoint?.url ?? delivery.endpointId)),
      el('td', { class: 'num opt' }, item.attempt === null ? dim() : String(item.attempt)),
      responseCell(item.responseStatus, item.error),
      el('td', { class: 'num opt' }, item.durationMs === null ? dim() : `${item.durationMs} ms`),
    );
    if (this.inspected === delivery.eventId) row.classList.add('selected');
    // A row opens its event by click, or by Enter from the keyboard.
    row.tabIndex = 0;
    row.onclick = () => void this.showEvent(delivery.eventId);
    row.onkeydown = (event) => {
      if (event.key === 'Enter') void this.showEvent(delivery.eventId);
    };
    return row;
  }

  private updateFeedEmpty(): void {
    $('feed-empty').hidden = $('feed').children.length > 0 || this.pendingUpdates !== null;
  }

  /** Marks the event shown in the inspector (null: closes it). */
  private inspect(eventId: string | null): void {
    this.inspected = eventId;
    $('event-detail').hidden = eventId === null;
    $('feed-layout').classList.toggle('inspecting', eventId !== null);
    for (const row of $('feed').querySelectorAll<HTMLElement>('tr.feed-row'))
      row.classList.toggle('selected', row.dataset.eventId === eventId);
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
      el('option', { value: '' }, 'Every endpoint'),
      ...endpoints.nodes.map((endpoint) => el('option', { value: endpoint.id }, endpoint.url)),
    );
    deadSelect.value = chosen;
    this.renderEndpoints();
    // Rows shown before the endpoints were known name them by id: by URL from now on.
    for (const cell of $('feed').querySelectorAll<HTMLElement>('td[data-endpoint-id]')) {
      const url = this.endpoints.get(cell.dataset.endpointId ?? '')?.url;
      if (url) cell.replaceChildren(truncated(url));
    }
  }

  private renderEndpoints(): void {
    const rows = [...this.endpoints.values()].map((endpoint) => {
      const health = this.health.get(endpoint.id);
      const state = health?.state ?? (endpoint.enabled ? 'HEALTHY' : 'DISABLED');
      const action = (label: string, name: string, run: () => Promise<unknown>, className = 'small') => {
        const element = button(label, name, className);
        element.onclick = () => void this.act(run);
        return element;
      };
      const rate = health?.deliverySuccessRate ?? null;
      return el(
        'tr',
        { 'data-endpoint-id': endpoint.id, 'data-state': state },
        el(
          'td',
          { class: 'url' },
          truncated(endpoint.url, 'mono'),
          el(
            'div',
            { class: 'reason' },
            truncated(
              [endpoint.description, endpoint.eventTypes.length ? endpoint.eventTypes.join(', ') : 'all events']
                .filter(Boolean)
                .join(' · '),
            ),
          ),
        ),
        el(
          'td',
          { class: `state-${state}` },
          badge(state.charAt(0) + state.slice(1).toLowerCase(), STATE_TONE[state] ?? 'neutral', state),
          endpoint.disabledReason ? el('div', { class: 'reason' }, endpoint.disabledReason) : null,
          endpoint.paused
            ? el('div', { class: 'reason' }, badge('Paused', 'warning', 'paused'), ` ${endpoint.pendingDeliveries} waiting`)
            : null,
        ),
        el('td', { class: 'num', 'data-tone': rateTone(rate) }, percent(rate)),
        el('td', { class: 'num' }, String(health?.consecutiveFailures ?? 0)),
        el('td', { class: 'error' }, health?.lastError ? truncated(health.lastError) : dim('none')),
        el(
          'td',
          {},
          el(
            'div',
            { class: 'actions' },
            action('Send test', 'send-test', async () => {
              await this.api.request(Q.SEND_TEST, { endpointId: endpoint.id });
              this.message(`Test event sent to ${endpoint.url}.`);
            }),
            action('Edit filters', 'edit-filters', async () => {
              const answer = window.prompt('Event types, comma-separated (empty: all)', endpoint.eventTypes.join(', '));
              if (answer === null) return;
              await this.api.request(Q.UPDATE, { id: endpoint.id, input: { eventTypes: splitList(answer) } });
            }),
            action('Rotate secret', 'rotate-secret', async () => {
              const { rotateEndpointSecret } = await this.api.request<{ rotateEndpointSecret: { secret: string } }>(Q.ROTATE, {
                id: endpoint.id,
              });
              this.message(`New signing secret for ${endpoint.url} (shown once): `, rotateEndpointSecret.secret);
            }),
            endpoint.paused
              ? action('Resume', 'resume', () => this.api.request(Q.RESUME, { id: endpoint.id }), 'small primary')
              : action('Pause', 'pause', () => this.api.request(Q.PAUSE, { id: endpoint.id })),
            endpoint.enabled
              ? action('Disable', 'disable', () => this.api.request(Q.DISABLE, { id: endpoint.id }), 'small danger')
              : action('Enable', 'enable', () => this.api.request(Q.ENABLE, { id: endpoint.id }), 'small primary'),
          ),
        ),
      );
    });
    $('endpoints').replaceChildren(...rows);
    $('endpoints-empty').hidden = rows.length > 0;
  }

  /** A note above the endpoints; `secret` is shown as code, selected with one click. */
  private message(text: string, secret?: string): void {
    $('endpoint-message').replaceChildren(text, ...(secret ? [el('code', {}, secret)] : []));
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
      const retry = button('Retry', 'retry', 'small primary');
      retry.onclick = () => {
        retry.disabled = true;
        retry.textContent = 'Retrying…';
        this.api.request(Q.RETRY, { id: dead.id }).catch((error: unknown) => {
          retry.disabled = false;
          retry.textContent = 'Retry';
          this.showError(error);
        });
      };
      const open = button('Attempts', 'open');
      open.onclick = () => void this.showEvent(dead.eventId);
      return el(
        'tr',
        { 'data-delivery-id': dead.id, 'data-event-id': dead.eventId },
        timeCell(dead.createdAt),
        el('td', { class: 'mono' }, dead.eventType),
        el('td', { class: 'url' }, truncated(this.endpoints.get(dead.endpointId)?.url ?? dead.endpointId)),
        el('td', { class: 'num' }, String(dead.attemptCount)),
        el('td', { class: 'error' }, dead.lastError ? truncated(dead.lastError) : dim()),
        el('td', {}, el('div', { class: 'actions' }, open, retry)),
      );
    });
    $('dead-letters').replaceChildren(...rows);
    $('dead-empty').hidden = rows.length > 0;
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

  /** The event's payload and every attempt of each of its deliveries, in the inspector beside the feed. */
  private async showEvent(eventId: string): Promise<void> {
    const panel = $('event-detail');
    try {
      const { event } = await this.api.request<{ event: EventDetail }>(Q.EVENT, { id: eventId });
      const close = button('Close', 'close', 'small ghost');
      close.onclick = () => this.inspect(null);
      panel.replaceChildren(
        el(
          'div',
          { class: 'inspector-head' },
          el('div', {}, el('p', { class: 'muted' }, 'Event'), el('h2', { class: 'mono' }, event.id)),
          close,
        ),
        el('p', { class: 'inspector-meta' }, `${event.type} · version ${event.version} · ${new Date(event.createdAt).toLocaleString()}`),
        el('h3', {}, 'Payload'),
        el('pre', { class: 'payload' }, JSON.stringify(event.data, null, 2)),
        el('h3', {}, event.deliveries.length === 1 ? 'Delivery' : `Deliveries (${event.deliveries.length})`),
        ...event.deliveries.map((delivery) =>
          el(
            'div',
            { class: 'delivery', 'data-delivery-id': delivery.id },
            el(
              'div',
              { class: 'delivery-head' },
              truncated(delivery.endpoint.url, 'url'),
              el('span', { class: `status-${delivery.status}` }, statusBadge(delivery.status)),
              el('span', { class: 'muted' }, `${delivery.attemptCount} ${delivery.attemptCount === 1 ? 'attempt' : 'attempts'}`),
            ),
            ...(delivery.attempts.length === 0 ? [el('div', { class: 'attempt muted' }, 'Not attempted yet.')] : []),
            ...delivery.attempts
              .slice()
              .reverse()
              .map((attempt, index) =>
                el(
                  'div',
                  { class: 'attempt', 'data-attempt': String(attempt.number) },
                  el(
                    'div',
                    { class: 'attempt-line' },
                    el('strong', {}, `Attempt ${attempt.number}`),
                    el('span', { class: 'dim' }, new Date(attempt.attemptedAt).toLocaleTimeString()),
                    el(
                      'span',
                      {
                        class: 'response-status code-chip',
                        'data-tone': attempt.responseStatus && attempt.responseStatus < 300 ? 'success' : 'danger',
                      },
                      attempt.responseStatus ? `HTTP ${attempt.responseStatus}` : (attempt.errorKind ?? 'no response'),
                    ),
                    el('span', { class: 'dim' }, `${attempt.durationMs} ms`),
                  ),
                  attempt.errorMessage ? el('div', { class: 'error' }, attempt.errorMessage) : null,
                  el(
                    'details',
                    index === 0 ? { open: '' } : {},
                    el('summary', {}, `Response body${attempt.responseBodyTruncated ? ' (truncated)' : ''}`),
                    el('pre', { class: 'response-body' }, attempt.responseBody || '(empty)'),
                  ),
                  el(
                    'details',
                    {},
                    el('summary', {}, 'Request headers'),
                    el(
                      'table',
                      { class: 'headers' },
                      ...Object.entries(attempt.requestHeaders).map(([name, value]) =>
                        el('tr', {}, el('td', {}, name), el('td', {}, String(value))),
                      ),
                    ),
                  ),
                ),
              ),
          ),
        ),
      );
      this.inspect(eventId);
      panel.scrollTop = 0;
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
        this.message(`Registered ${registerEndpoint.endpoint.url}. Signing secret (shown once): `, registerEndpoint.secret);
        form.reset();
      });
    };
    $<HTMLFormElement>('dead-filter').onsubmit = (event) => {
      event.preventDefault();
      void this.loadDeadLetters().catch((error: unknown) => this.showError(error));
    };
    $('replay').onclick = () => void this.replay().catch((error: unknown) => this.showError(error));
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.inspected !== null) this.inspect(null);
    });
  }

  stop(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
  }
}

/** A delivery in one state, as the feed shows it once. */
function feedKey(delivery: FeedDelivery): string {
  return `${delivery.id}|${delivery.status}|${delivery.attemptCount}`;
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
