/**
 * The customer portal (served at /portal, usually in an iframe of the operator's product). Its link carries a
 * one-time token in the fragment; the page trades it once (POST /portal/session) for a session credential held only
 * in this module's memory and sent as a bearer to /graphql. Only the actions the session's capabilities allow are
 * shown, and the API refuses the others whatever the page does. Self-contained: it shares no chunk with the dashboard.
 */

type Capability = 'ENDPOINTS_READ' | 'ENDPOINTS_WRITE' | 'SECRETS_REVEAL' | 'SEND_TEST' | 'DELIVERIES_READ' | 'DELIVERIES_RETRY';

interface Session {
  id: string;
  applicationId: string;
  capabilities: Capability[];
  theme: { name: string | null; logoUrl: string | null; accentColor: string | null };
  expiresAt: string;
}

interface Endpoint {
  id: string;
  url: string;
  eventTypes: string[];
  enabled: boolean;
  disabledReason: string | null;
}

interface Delivery {
  id: string;
  eventType: string;
  endpointId: string;
  status: 'PENDING' | 'FAILED' | 'SUCCEEDED' | 'DEAD';
  attemptCount: number;
  createdAt: string;
}

interface Attempt {
  number: number;
  attemptedAt: string;
  responseStatus: number | null;
  durationMs: number;
  errorMessage: string | null;
  responseBody: string | null;
}

class PortalError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** Codes after which the session can do nothing more: the page says so and stops. */
const ENDED = new Set(['PORTAL_SESSION_EXPIRED', 'PORTAL_SESSION_REVOKED', 'UNAUTHENTICATED']);

let credential: string | null = null;
let session: Session | null = null;
let endpoints: Endpoint[] = [];

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const can = (capability: Capability) => session?.capabilities.includes(capability) ?? false;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: Array<Node | string>
) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function button(label: string, onClick: (target: HTMLButtonElement) => unknown, className = ''): HTMLButtonElement {
  const node = element('button', { type: 'button', textContent: label, className });
  node.dataset.action = label.toLowerCase().replace(/\s+/g, '-');
  node.addEventListener('click', () => void run(node, () => onClick(node)));
  return node;
}

/** Runs an action with its button disabled, reporting the outcome in the status line. */
async function run(target: HTMLButtonElement | null, action: () => unknown): Promise<void> {
  if (target) target.disabled = true;
  try {
    await action();
  } catch (error) {
    report(error);
  } finally {
    if (target) target.disabled = false;
  }
}

function say(message: string, isError = false): void {
  const status = $('portal-status');
  status.textContent = message;
  status.classList.toggle('error', isError);
}

function report(error: unknown): void {
  if (error instanceof PortalError && error.code && ENDED.has(error.code)) return end(error.message, error.code);
  say(error instanceof Error ? error.message : String(error), true);
}

function end(message: string, code?: string): void {
  credential = null;
  $('portal').hidden = true;
  const ended = $('portal-ended');
  ended.hidden = false;
  ended.textContent = message;
  if (code) ended.dataset.code = code;
  say('');
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  if (!credential) throw new PortalError('This portal session has ended.', 'UNAUTHENTICATED');
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
    body: JSON.stringify({ query, variables }),
  });
  const result = (await response.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  const error = result.errors?.[0];
  if (error) throw new PortalError(error.message, error.extensions?.code);
  if (!result.data) throw new PortalError(`Herald answered HTTP ${response.status} without data.`, undefined);
  return result.data;
}

function applyTheme(theme: Session['theme']): void {
  if (theme.name) {
    $('portal-name').textContent = theme.name;
    document.title = theme.name;
  }
  if (theme.logoUrl) {
    const logo = $<HTMLImageElement>('portal-logo');
    logo.src = theme.logoUrl;
    logo.alt = theme.name ?? '';
    logo.hidden = false;
  }
  if (theme.accentColor && /^#[0-9a-f]{6}$/i.test(theme.accentColor)) {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(theme.accentColor!.slice(i, i + 2), 16) / 255);
    const luminance = 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
    document.documentElement.style.setProperty('--accent', theme.accentColor);
    document.documentElement.style.setProperty('--accent-text', luminance > 0.6 ? '#111111' : '#ffffff');
  }
}

// ---- Endpoints

const ENDPOINT_FIELDS = 'id url eventTypes enabled disabledReason';

async function loadEndpoints(): Promise<void> {
  const data = await gql<{ endpoints: { nodes: Endpoint[] } }>(
    `query PortalEndpoints { endpoints(page: { first: 100 }) { nodes { ${ENDPOINT_FIELDS} } } }`,
  );
  endpoints = data.endpoints.nodes;
  renderEndpoints();
}

function renderEndpoints(): void {
  const body = $('endpoints').querySelector('tbody')!;
  body.replaceChildren(
    ...endpoints.map((endpoint) => {
      const row = element('tr');
      row.dataset.endpointId = endpoint.id;
      const types = element('td', { className: 'types', textContent: endpoint.eventTypes.length ? endpoint.eventTypes.join(', ') : 'all' });
      const actions = element('td', { className: 'actions' });
      if (can('ENDPOINTS_WRITE')) {
        actions.append(
          button('Edit filters', () => editFilters(endpoint, types)),
          button('Rotate secret', () => rotateSecret(endpoint)),
          endpoint.enabled ? button('Disable', () => setEnabled(endpoint, false)) : button('Enable', () => setEnabled(endpoint, true)),
          button('Delete', (target) => deleteEndpoint(endpoint, target), 'danger'),
        );
      }
      if (can('SEND_TEST')) actions.prepend(button('Send test', () => sendTest(endpoint)));
      row.append(
        element('td', { className: 'url', textContent: endpoint.url }),
        types,
        element(
          'td',
          {},
          element('span', {
            className: `badge ${endpoint.enabled ? 'enabled' : 'disabled'}`,
            textContent: endpoint.enabled ? 'enabled' : 'disabled',
          }),
        ),
        actions,
      );
      return row;
    }),
  );
  $('endpoints-empty').hidden = endpoints.length > 0;
}

const parseTypes = (text: string) =>
  text
    .split(/[\s,]+/)
    .map((type) => type.trim())
    .filter(Boolean);

async function register(event: SubmitEvent): Promise<void> {
  event.preventDefault();
  const url = $<HTMLInputElement>('register-url').value.trim();
  const eventTypes = parseTypes($<HTMLInputElement>('register-types').value);
  const secret = can('SECRETS_REVEAL') ? 'secret' : '';
  const data = await gql<{ registerEndpoint: { endpoint: Endpoint; secret?: string } }>(
    `mutation PortalRegister($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { endpoint { ${ENDPOINT_FIELDS} } ${secret} } }`,
    { input: { url, eventTypes } },
  );
  $<HTMLFormElement>('register-form').reset();
  say(`Endpoint ${data.registerEndpoint.endpoint.url} added.`);
  if (data.registerEndpoint.secret) showSecret(data.registerEndpoint.endpoint, data.registerEndpoint.secret);
  await loadEndpoints();
}

function showSecret(endpoint: Endpoint, secret: string): void {
  $('secret-endpoint').textContent = endpoint.url;
  $('secret-value').textContent = secret;
  $('secret-box').hidden = false;
}

function editFilters(endpoint: Endpoint, cell: HTMLTableCellElement): void {
  const input = document.createElement('input');
  input.type = 'text';
  input.value = endpoint.eventTypes.join(', ');
  input.placeholder = 'empty: all types';
  const save = button('Save', async () => {
    await gql(`mutation PortalUpdate($id: ID!, $input: UpdateEndpointInput!) { updateEndpoint(id: $id, input: $input) { id } }`, {
      id: endpoint.id,
      input: { eventTypes: parseTypes(input.value) },
    });
    say('Filters saved.');
    await loadEndpoints();
  });
  cell.replaceChildren(
    input,
    save,
    button('Cancel', () => renderEndpoints()),
  );
  input.focus();
}

async function rotateSecret(endpoint: Endpoint): Promise<void> {
  const secret = can('SECRETS_REVEAL') ? 'secret' : '';
  const data = await gql<{ rotateEndpointSecret: { endpoint: Endpoint; secret?: string } }>(
    `mutation PortalRotate($id: ID!) { rotateEndpointSecret(id: $id) { endpoint { ${ENDPOINT_FIELDS} } ${secret} } }`,
    { id: endpoint.id },
  );
  say('Secret rotated: the old one stays valid for 24 hours.');
  if (data.rotateEndpointSecret.secret) showSecret(endpoint, data.rotateEndpointSecret.secret);
}

async function setEnabled(endpoint: Endpoint, enabled: boolean): Promise<void> {
  await gql(
    enabled
      ? 'mutation PortalEnable($id: ID!) { enableEndpoint(id: $id) { id } }'
      : 'mutation PortalDisable($id: ID!) { disableEndpoint(id: $id) { id } }',
    {
      id: endpoint.id,
    },
  );
  say(enabled ? 'Endpoint enabled.' : 'Endpoint disabled.');
  await loadEndpoints();
}

/** A second click confirms (confirm() is not allowed in a cross-origin iframe). */
async function deleteEndpoint(endpoint: Endpoint, target: HTMLButtonElement): Promise<void> {
  if (target.dataset.confirm !== 'yes') {
    target.dataset.confirm = 'yes';
    target.textContent = 'Confirm delete';
    return;
  }
  await gql('mutation PortalDelete($id: ID!) { deleteEndpoint(id: $id) }', { id: endpoint.id });
  say('Endpoint deleted.');
  await loadEndpoints();
}

async function sendTest(endpoint: Endpoint): Promise<void> {
  await gql('mutation PortalTest($id: ID!) { sendTestEvent(endpointId: $id) { id } }', { id: endpoint.id });
  say(`Test event sent to ${endpoint.url}.`);
  if (can('DELIVERIES_READ')) await loadDeliveries();
}

// ---- Deliveries

async function loadDeliveries(): Promise<void> {
  const data = await gql<{ deliveries: { nodes: Delivery[] } }>(
    'query PortalDeliveries { deliveries(page: { first: 50 }) { nodes { id eventType endpointId status attemptCount createdAt } } }',
  );
  const urls = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint.url]));
  const body = $('deliveries').querySelector('tbody')!;
  body.replaceChildren(
    ...data.deliveries.nodes.map((delivery) => {
      const row = element('tr');
      row.dataset.deliveryId = delivery.id;
      const actions = element(
        'td',
        { className: 'actions' },
        button('Attempts', () => showAttempts(delivery, row)),
      );
      if (can('DELIVERIES_RETRY') && delivery.status !== 'PENDING') actions.append(button('Retry', () => retry(delivery)));
      row.append(
        element('td', { textContent: delivery.eventType }),
        element('td', { className: 'url', textContent: urls.get(delivery.endpointId) ?? delivery.endpointId }),
        element('td', {}, element('span', { className: `badge ${delivery.status}`, textContent: delivery.status })),
        element('td', { textContent: String(delivery.attemptCount) }),
        element('td', { textContent: new Date(delivery.createdAt).toLocaleString() }),
        actions,
      );
      return row;
    }),
  );
  $('deliveries-empty').hidden = data.deliveries.nodes.length > 0;
}

async function showAttempts(delivery: Delivery, row: HTMLTableRowElement): Promise<void> {
  const data = await gql<{ delivery: { attempts: Attempt[] } }>(
    'query PortalAttempts($id: ID!) { delivery(id: $id) { attempts { number attemptedAt responseStatus durationMs errorMessage responseBody } } }',
    { id: delivery.id },
  );
  for (const other of row.parentElement!.querySelectorAll('tr.selected')) other.classList.remove('selected');
  row.classList.add('selected');
  $('attempts-title').textContent = `Attempts of ${delivery.eventType} (${delivery.id})`;
  $('attempts')
    .querySelector('tbody')!
    .replaceChildren(
      ...data.delivery.attempts.map((attempt) =>
        element(
          'tr',
          {},
          element('td', { textContent: String(attempt.number) }),
          element('td', { textContent: new Date(attempt.attemptedAt).toLocaleString() }),
          element('td', { textContent: attempt.responseStatus === null ? '-' : String(attempt.responseStatus) }),
          element('td', { textContent: `${attempt.durationMs} ms` }),
          element('td', { className: 'url', textContent: attempt.errorMessage ?? attempt.responseBody ?? '' }),
        ),
      ),
    );
  $('attempts').hidden = false;
}

async function retry(delivery: Delivery): Promise<void> {
  await gql('mutation PortalRetry($id: ID!) { retryDelivery(id: $id) { id } }', { id: delivery.id });
  say('Delivery queued again.');
  await loadDeliveries();
}

async function replayDeadLetters(): Promise<void> {
  const data = await gql<{ replayDeadLetters: { matched: number } }>('mutation PortalReplay { replayDeadLetters(filter: {}) { matched } }');
  say(`Replaying ${data.replayDeadLetters.matched} dead letters.`);
}

// ---- Start

async function start(): Promise<void> {
  const token = new URLSearchParams(location.hash.slice(1)).get('token');
  // The token works once: out of the address bar and history at once.
  history.replaceState(null, '', location.pathname + location.search);
  if (!token) return end('This page opens from a portal link. Ask for a new one.');
  say('Opening…');
  const response = await fetch('/portal/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const answer = (await response.json()) as { credential?: string; session?: Session; error?: string; message?: string };
  if (!response.ok || !answer.credential || !answer.session)
    return end(answer.message ?? `Herald answered HTTP ${response.status}.`, answer.error);
  credential = answer.credential;
  session = answer.session;
  applyTheme(session.theme);
  $('portal-expiry').textContent = `Session until ${new Date(session.expiresAt).toLocaleTimeString()}`;
  document.body.dataset.capabilities = session.capabilities.join(' ');
  $('portal').hidden = false;

  $('endpoints-section').hidden = !can('ENDPOINTS_READ');
  $('register-form').hidden = !can('ENDPOINTS_WRITE');
  $('deliveries-section').hidden = !can('DELIVERIES_READ');
  $('replay-dead').hidden = !can('DELIVERIES_RETRY');
  $('register-form').addEventListener('submit', (event) => void run(null, () => register(event)));
  $('secret-dismiss').addEventListener('click', () => {
    $('secret-value').textContent = '';
    $('secret-box').hidden = true;
  });
  $('deliveries-refresh').addEventListener('click', () => void run(null, loadDeliveries));
  $('replay-dead').addEventListener('click', () => void run(null, replayDeadLetters));

  if (can('ENDPOINTS_READ')) await loadEndpoints();
  if (can('DELIVERIES_READ')) await loadDeliveries();
  say('');
  document.body.dataset.ready = 'true';
}

void start().catch(report);
