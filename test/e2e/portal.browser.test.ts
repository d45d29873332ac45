import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Frame, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const ARTIFACTS = path.resolve('test-results/portal');

/** A product's page on its own origin (127.0.0.1, another port) that embeds the portal link it is given. */
async function startHostPage(): Promise<{ origin: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const src = new URL(req.url ?? '/', 'http://host').searchParams.get('portal') ?? '';
    const attribute = src.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><html><head><title>Acme settings</title></head>
<body style="font-family: sans-serif; margin: 0; background: #eef1f5">
<h1 style="padding: 12px 20px; margin: 0; background: #1f2937; color: white; font-size: 18px">Acme / Settings / Webhooks</h1>
<iframe id="portal" src="${attribute}" style="width: 100%; height: 900px; border: 0" onload="this.dataset.loaded = 'true'"></iframe>
</body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('the customer portal embedded in an iframe, in headless Chromium', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let allowedHost: Awaited<ReturnType<typeof startHostPage>>;
  let otherHost: Awaited<ReturnType<typeof startHostPage>>;
  let receiver: WebhookReceiver;
  let browser: Browser;
  let page: Page;
  let applicationId = '';
  let endpointId = '';
  const pageErrors: string[] = [];
  /** The bearer the portal page sent to /graphql (the test's way to act "from the page" with its credential). */
  const portalBearers: string[] = [];

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    allowedHost = await startHostPage();
    otherHost = await startHostPage();
    receiver = await WebhookReceiver.start();
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
    // Herald reads the frame ancestors at each /portal request; the host's port is known only now.
    herald.config.portal.frameAncestors.push(allowedHost.origin);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => {
      const authorization = request.headers().authorization;
      if (request.url().endsWith('/graphql') && authorization) portalBearers.push(authorization);
    });
    // Only the hosts and Herald on 127.0.0.1 may be reached: nothing from a CDN.
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' || url.protocol === 'data:') return route.continue();
      pageErrors.push(`request outside 127.0.0.1: ${url.href}`);
      return route.abort();
    });

    const app = await admin<{ createApplication: { id: string } }>('mutation { createApplication(input: { name: "Acme" }) { id } }');
    applicationId = app.createApplication.id;
    const endpoint = await admin<{ registerEndpoint: { endpoint: { id: string } } }>(
      'mutation($input: RegisterEndpointInput!) { registerEndpoint(input: $input) { endpoint { id } } }',
      { input: { applicationId, url: receiver.url, eventTypes: ['order.*'] } },
    );
    endpointId = endpoint.registerEndpoint.endpoint.id;
    await admin('mutation($input: PublishEventInput!) { publishEvent(input: $input) { id } }', {
      input: { applicationId, type: 'order.shipped', data: { order: 1 } },
    });
    await receiver.waitForRequests(1);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await herald?.stop();
    await database?.drop();
    await receiver?.close();
    await allowedHost?.close();
    await otherHost?.close();
  });

  async function admin<T = unknown>(text: string, variables: Record<string, unknown> = {}): Promise<T> {
    const response = await fetch(`${herald.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${herald.adminKey}` },
      body: JSON.stringify({ query: text, variables }),
    });
    const result = (await response.json()) as { data: T; errors?: unknown[] };
    if (result.errors) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    return result.data;
  }

  async function portalLink(capabilities: string[]): Promise<{ url: string; id: string }> {
    const data = await admin<{ createPortalSession: { url: string; session: { id: string } } }>(
      'mutation($input: CreatePortalSessionInput!) { createPortalSession(input: $input) { url session { id } } }',
      {
        input: {
          applicationId,
          capabilities,
          expiresIn: 900,
          theme: {
            name: 'Acme webhooks',
            accentColor: '#c2410c',
            logoUrl: `data:image/svg+xml;base64,${Buffer.from(LOGO).toString('base64')}`,
          },
        },
      },
    );
    // PORTAL_PUBLIC_URL is unset: the link is relative to Herald.
    return { url: `${herald.url}${data.createPortalSession.url}`, id: data.createPortalSession.session.id };
  }

  async function openEmbedded(host: { origin: string }, link: string): Promise<void> {
    await page.goto(`${host.origin}/?portal=${encodeURIComponent(link)}`);
    await page.waitForSelector('#portal[data-loaded="true"]');
  }

  function portalFrame(): Frame {
    const frame = page.frames().find((candidate) => candidate.url().startsWith(`${herald.url}/portal`));
    if (!frame)
      throw new Error(
        `no portal frame among ${page
          .frames()
          .map((candidate) => candidate.url())
          .join(', ')}`,
      );
    return frame;
  }

  it('read-only: shows the endpoints and deliveries, no write action, and the API refuses a write made from the page', async () => {
    const link = await portalLink(['ENDPOINTS_READ', 'DELIVERIES_READ']);
    await openEmbedded(allowedHost, link.url);
    const frame = portalFrame();
    await frame.waitForSelector('body[data-ready="true"]');
    await frame.waitForSelector(`#endpoints tr[data-endpoint-id="${endpointId}"]`);
    await frame.waitForSelector('#deliveries tbody tr');
    expect(await frame.textContent('#portal-name')).toBe('Acme webhooks');
    expect(await frame.isVisible('#portal-logo')).toBe(true);
    // Evaluated as text: the test project's types have no DOM.
    expect(await frame.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")).toBe('#c2410c');
    // The token left the address at once.
    expect(frame.url()).not.toContain('token=');

    expect(await frame.isVisible('#register-form')).toBe(false);
    expect(await frame.isVisible('#replay-dead')).toBe(false);
    const actions: Array<string | null> = [];
    for (const action of await frame.locator('button[data-action]:visible').all()) actions.push(await action.getAttribute('data-action'));
    expect(actions.filter((action) => action !== 'attempts')).toEqual([]);

    // Attempts are readable.
    await frame.click('#deliveries tbody tr button[data-action="attempts"]');
    await frame.waitForSelector('#attempts:not([hidden]) tbody tr');
    expect(await frame.textContent('#attempts tbody')).toContain('200');
    await page.screenshot({ path: path.join(ARTIFACTS, 'portal-read-only.png'), fullPage: true });

    // A write sent from the page itself, with the page's own credential: refused by the API.
    const bearer = portalBearers.at(-1);
    expect(bearer).toMatch(/^Bearer hps_/);
    const answer = await frame.evaluate(async (authorization) => {
      const response = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ query: 'mutation { registerEndpoint(input: { url: "https://evil.example/hook" }) { endpoint { id } } }' }),
      });
      return { status: response.status, body: (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> } };
    }, bearer!);
    expect(answer.status).toBe(403);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const endpoints = await admin<{ endpoints: { nodes: Array<{ id: string }> } }>(
      'query($app: ID!) { endpoints(filter: { applicationId: $app }) { nodes { id } } }',
      {
        app: applicationId,
      },
    );
    expect(endpoints.endpoints.nodes.map((node) => node.id)).toEqual([endpointId]);
    expect(pageErrors).toEqual([]);
  });

  it('full access: registers an endpoint, reveals its secret once, sends a test and offers retries', async () => {
    const link = await portalLink([
      'ENDPOINTS_READ',
      'ENDPOINTS_WRITE',
      'SECRETS_REVEAL',
      'SEND_TEST',
      'DELIVERIES_READ',
      'DELIVERIES_RETRY',
    ]);
    await openEmbedded(allowedHost, link.url);
    const frame = portalFrame();
    await frame.waitForSelector('body[data-ready="true"]');
    await frame.fill('#register-url', `${receiver.url}?second`);
    await frame.fill('#register-types', 'invoice.*');
    await frame.click('#register-form button[type=submit]');
    await frame.waitForSelector('#secret-box:not([hidden])');
    expect(await frame.textContent('#secret-value')).toMatch(/^whsec_/);
    await frame.waitForSelector('#endpoints tbody tr >> nth=1');
    await page.screenshot({ path: path.join(ARTIFACTS, 'portal-full-access.png'), fullPage: true });
    await frame.click('#secret-dismiss');

    const requestsBefore = receiver.requests.length;
    await frame.click(`#endpoints tr[data-endpoint-id="${endpointId}"] button[data-action="send-test"]`);
    await receiver.waitForRequests(requestsBefore + 1);
    await frame.click('#deliveries-refresh');
    await frame.waitForSelector('#deliveries tbody tr button[data-action="retry"]');
    expect(await frame.isVisible('#replay-dead')).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('is refused by CSP in an iframe of an origin not in PORTAL_FRAME_ANCESTORS', async () => {
    const direct = await fetch(`${herald.url}/portal`);
    const policy = direct.headers.get('content-security-policy') ?? '';
    expect(policy).toContain(`frame-ancestors ${allowedHost.origin}`);
    expect(policy).not.toContain(otherHost.origin);
    expect(direct.headers.get('x-frame-options')).toBeNull();

    const link = await portalLink(['ENDPOINTS_READ']);
    await openEmbedded(otherHost, link.url);
    // The iframe's load event has fired: had Chromium let the portal in, its static markup (#portal-name) would be there.
    const children = page.frames().filter((frame) => frame !== page.mainFrame());
    expect(children).toHaveLength(1);
    expect(await children[0]!.$('#portal-name')).toBeNull();
    const rows = await query<{ exchanged_at: Date | null }>(database.url, 'select exchanged_at from portal_sessions where id = $1', [
      link.id,
    ]);
    expect(rows).toEqual([{ exchanged_at: null }]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'portal-refused-origin.png'), fullPage: true });
  });
});

const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#c2410c"/><path d="M18 46 32 16l14 30" stroke="#fff" stroke-width="6" fill="none"/></svg>`;
