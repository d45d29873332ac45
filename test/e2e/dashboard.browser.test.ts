import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DeadLettersDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { launchChromium } from '../helpers/browser';
import { heraldTestWith } from '../helpers/fixtures';
import { type TestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const ARTIFACTS = path.resolve('test-results/dashboard');

const heraldFile = heraldTestWith((databaseUrl) => ({
  config: {
    delivery: { ...testConfig(databaseUrl).delivery, retry: { ...testConfig(databaseUrl).delivery.retry, maxAttempts: 1 } },
    metrics: { pushIntervalMs: 2000, minPushGapMs: 200 },
  },
}));

describe('the live dashboard in headless Chromium', () => {
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  let browser: Browser;
  let page: Page;
  let receiverFails = false;
  /** Deliveries whose body holds one of these markers are refused too (HTTP 500). */
  const failingMarkers = new Set<string>();
  /** The application the first test signs in to and selects; the replay test goes on with it. */
  let shopApplicationId = '';
  const pageErrors: string[] = [];

  heraldFile.beforeAll(async ({ herald: fileHerald }) => {
    herald = fileHerald;
    await mkdir(ARTIFACTS, { recursive: true });
    receiver = await WebhookReceiver.start((request) =>
      receiverFails || [...failingMarkers].some((marker) => request.body.includes(marker))
        ? { status: 500, body: '{"error":"database locked"}' }
        : { status: 200, body: '{"received":true}', delayMs: 20 },
    );
    // playwright gives the browser a fresh temporary profile of its own.
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1600, height: 1400 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // Only Herald itself may be reached: anything else the page asks for fails the test.
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1') return route.continue();
      pageErrors.push(`request outside Herald: ${url.href}`);
      return route.abort();
    });
  });
  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
  });

  it('signs in, streams deliveries within 2 s, moves the charts, shows attempts and retries a dead letter by click', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'Browser shop' } });
    shopApplicationId = app.id;
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, { input: { url: receiver.url, applicationId: app.id } });

    await page.goto(`${herald.url}/`);
    await page.fill('#api-key', herald.adminKey);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForSelector('#live-status.live');
    await page.selectOption('#app-select', app.id);
    await page.waitForSelector(`#endpoints tr[data-endpoint-id="${registerEndpoint.endpoint.id}"]`);
    await page.waitForSelector('#chart-throughput[data-updates]');
    const updatesBefore = Number(await page.getAttribute('#chart-throughput', 'data-updates'));
    expect(await page.getAttribute('#chart-throughput', 'data-total')).toBe('0');
    await page.screenshot({ path: path.join(ARTIFACTS, '1-signed-in.png'), fullPage: true });

    const latencies: number[] = [];
    for (let index = 0; index < 3; index += 1) {
      const published = Date.now();
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { type: 'order.created', data: { orderId: 'O-1', order: index }, applicationId: app.id },
      });
      await page.waitForSelector(`#feed tr[data-event-id="${publishEvent.id}"][data-status="SUCCEEDED"]`, { timeout: 2000 });
      latencies.push(Date.now() - published);
    }
    expect(Math.max(...latencies)).toBeLessThan(2000);

    // The charts move: a fresh metrics push plots the three deliveries.
    await page.waitForSelector('#chart-throughput[data-total="3"]', { timeout: 5000 });
    expect(Number(await page.getAttribute('#chart-throughput', 'data-updates'))).toBeGreaterThan(updatesBefore);
    expect(Number(await page.getAttribute('#chart-throughput', 'data-non-empty-points'))).toBeGreaterThan(0);
    expect(Number(await page.getAttribute('#chart-latency', 'data-non-empty-points'))).toBeGreaterThan(0);
    expect(await page.textContent('#stat-delivered')).toBe('3');
    expect(await page.textContent('#stat-success')).toBe('100.0%');
    await page.screenshot({ path: path.join(ARTIFACTS, '2-live-feed-and-charts.png'), fullPage: true });

    // An event's detail: every attempt with its request headers, response status, body and timing.
    await page.click('#feed tr.feed-row >> nth=0');
    await page.waitForSelector('#event-detail:not([hidden]) .attempt');
    const detail = (await page.textContent('#event-detail')) ?? '';
    expect(detail).toContain('HTTP 200');
    expect(detail).toContain('webhook-id');
    expect(detail).toContain('[redacted]');
    expect(detail).toContain('{"received":true}');
    expect(detail).toMatch(/\d+ ms/);
    await page.screenshot({ path: path.join(ARTIFACTS, '3-event-attempts.png'), fullPage: true });

    // A dead letter, retried by clicking once the receiver is fixed.
    receiverFails = true;
    const { publishEvent: doomed } = await herald.call(PublishEventDocument, {
      input: { type: 'invoice.paid', data: { invoice: 7 }, applicationId: app.id },
    });
    const deadRow = `#dead-letters tr[data-event-id="${doomed.id}"]`;
    await page.waitForSelector(`#feed tr[data-event-id="${doomed.id}"][data-status="DEAD"]`, { timeout: 5000 });
    await page.waitForSelector(deadRow, { timeout: 5000 });
    await page.screenshot({ path: path.join(ARTIFACTS, '4-dead-letter.png'), fullPage: true });
    receiverFails = false;
    await page.click(`${deadRow} button[data-action=retry]`);
    await page.waitForSelector(`#feed tr[data-event-id="${doomed.id}"][data-status="SUCCEEDED"]`, { timeout: 5000 });
    await page.waitForSelector(deadRow, { state: 'detached', timeout: 5000 });
    expect(receiver.requests.filter((request) => request.body.includes(doomed.id))).toHaveLength(2);
    await page.screenshot({ path: path.join(ARTIFACTS, '5-retried.png'), fullPage: true });

    expect(pageErrors).toEqual([]);
  });

  it('replays the filtered dead letters with one replayDeadLetters call and shows its progress to the end', async () => {
    expect(shopApplicationId).not.toBe('');
    receiverFails = true;
    const refunds: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const { publishEvent } = await herald.call(PublishEventDocument, {
        input: { type: 'refund.failed', data: { refund: index }, applicationId: shopApplicationId },
      });
      refunds.push(publishEvent.id);
    }
    const { publishEvent: other } = await herald.call(PublishEventDocument, {
      input: { type: 'invoice.voided', data: { invoice: 9 }, applicationId: shopApplicationId },
    });
    for (const id of [...refunds, other.id]) {
      await page.waitForSelector(`#dead-letters tr[data-event-id="${id}"]`, { timeout: 5000 });
    }
    await page.fill('#dead-filter input[name=eventType]', 'refund.failed');
    await page.click('#dead-filter button[type=submit]');
    await page.waitForSelector(`#dead-letters tr[data-event-id="${other.id}"]`, { state: 'detached', timeout: 5000 });
    receiverFails = false;

    await page.click('#replay');
    await page.waitForSelector('#replay-progress[data-status="COMPLETED"]', { timeout: 10_000 });
    expect(await page.textContent('#replay-status')).toBe('Replay completed: 3 of 3 re-queued');
    expect(await page.getAttribute('#replay-progress', 'hidden')).toBeNull();
    for (const id of refunds) {
      await page.waitForSelector(`#feed tr[data-event-id="${id}"][data-status="SUCCEEDED"]`, { timeout: 5000 });
      await page.waitForSelector(`#dead-letters tr[data-event-id="${id}"]`, { state: 'detached', timeout: 5000 });
    }
    await page.screenshot({ path: path.join(ARTIFACTS, '5b-replayed.png'), fullPage: true });
    // Only the filtered ones: the voided invoice was sent once and is still a dead letter.
    expect(receiver.requests.filter((request) => request.body.includes(other.id))).toHaveLength(1);
    for (const id of refunds) expect(receiver.requests.filter((request) => request.body.includes(id))).toHaveLength(2);
    const { deadLetters } = await herald.call(DeadLettersDocument, { filter: { applicationId: shopApplicationId } });
    expect(deadLetters.nodes.map((node) => node.eventId)).toEqual([other.id]);
    expect(pageErrors).toEqual([]);
  });

  it('with an application key shows that application only: its endpoints and live deliveries, nothing of another', async () => {
    const { createApplication: mine } = await herald.call(CreateApplicationDocument, { input: { name: 'Portal customer' } });
    const { createApplication: theirs } = await herald.call(CreateApplicationDocument, { input: { name: 'Someone else entirely' } });
    const { registerEndpoint: myEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { url: `${receiver.url}/mine`, applicationId: mine.id },
    });
    const { registerEndpoint: theirEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { url: `${receiver.url}/theirs-secret-path`, applicationId: theirs.id },
    });
    const appKey = await herald.createKey({ name: 'portal', applicationId: mine.id });

    const context = await browser.newContext({ viewport: { width: 1600, height: 1400 } });
    const portal = await context.newPage();
    portal.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await portal.goto(`${herald.url}/`);
      await portal.fill('#api-key', appKey);
      await portal.click('#login-form button[type=submit]');
      await portal.waitForSelector('#app:not([hidden])');
      await portal.waitForSelector('#live-status.live');
      await portal.waitForSelector(`#endpoints tr[data-endpoint-id="${myEndpoint.endpoint.id}"]`);

      const options = await portal.$$eval('#app-select option', (nodes) =>
        nodes.map((node) => (node as unknown as { value: string }).value),
      );
      expect(options).toEqual([mine.id]);

      const { publishEvent: theirEvent } = await herald.call(PublishEventDocument, {
        input: { type: 'order.created', data: { orderId: 'THEIRS-1' }, applicationId: theirs.id },
      });
      const { publishEvent: myEvent } = await herald.call(PublishEventDocument, {
        input: { type: 'order.created', data: { orderId: 'MINE-1' }, applicationId: mine.id },
      });
      await portal.waitForSelector(`#feed tr[data-event-id="${myEvent.id}"][data-status="SUCCEEDED"]`, { timeout: 2000 });
      // Their delivery has long succeeded too (the receiver answers at once); it must never reach this page.
      await waitForDeliveries(theirEvent.id);
      await portal.waitForTimeout(1000);
      const text = (await portal.textContent('body')) ?? '';
      for (const foreign of [theirs.id, theirs.name, theirEndpoint.endpoint.id, 'theirs-secret-path', theirEvent.id, 'THEIRS-1']) {
        expect(text, `the portal page shows ${foreign}`).not.toContain(foreign);
      }
      expect(await portal.$(`#feed tr[data-event-id="${theirEvent.id}"]`)).toBeNull();
      await portal.screenshot({ path: path.join(ARTIFACTS, '6-application-key.png'), fullPage: true });
    } finally {
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('brings the dashboard straight back on reload with the key saved in the tab, the first queries sent by the page itself', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'Reloading shop' } });
    const { registerEndpoint } = await herald.call(RegisterEndpointDocument, {
      input: { url: `${receiver.url}/reloading`, applicationId: app.id },
    });
    const appKey = await herald.createKey({ name: 'reloading', applicationId: app.id });
    const context = await browser.newContext({ viewport: { width: 1600, height: 1400 } });
    const tab = await context.newPage();
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    try {
      await tab.goto(`${herald.url}/`);
      await tab.fill('#api-key', appKey);
      await tab.click('#login-form button[type=submit]');
      await tab.waitForSelector('#live-status.live');

      const operations: string[] = [];
      tab.on('request', (request) => {
        if (!request.url().endsWith('/graphql') || request.method() !== 'POST') return;
        const query = (request.postDataJSON() as { query?: string }).query ?? '';
        operations.push(/^(?:query|mutation) (\w+)/.exec(query)?.[1] ?? query);
      });
      await tab.reload();
      await tab.waitForSelector('#stats[data-total]');
      expect(await tab.isHidden('#login')).toBe(true);
      await tab.waitForSelector(`#endpoints tr[data-endpoint-id="${registerEndpoint.endpoint.id}"]`);
      await tab.waitForSelector('#chart-throughput[data-updates]');
      await tab.waitForSelector('#live-status.live');
      expect(Number(await tab.getAttribute('body', 'data-first-metrics-ms'))).toBeGreaterThan(0);
      // Each first query once: the answers of the inline script's requests are used, not asked for again.
      expect([...operations].sort()).toEqual([
        'DashboardApplications',
        'DashboardDeadLetters',
        'DashboardEndpoints',
        'DashboardMetrics',
        'DashboardRecentDeliveries',
      ]);
      // The latest deliveries are asked for only once the first numbers are on screen.
      expect(operations.indexOf('DashboardRecentDeliveries')).toBeGreaterThan(operations.indexOf('DashboardMetrics'));
      // Sent while the HTML was still being parsed, so by the inline script: a module script runs only after that.
      // (Strings: this file is compiled without the DOM's types.)
      const sentAt = await tab.evaluate<{ domInteractive: number; first: number }>(`(() => {
        const navigation = performance.getEntriesByType('navigation')[0];
        const graphql = performance.getEntriesByType('resource').filter((entry) => new URL(entry.name).pathname === '/graphql');
        return { domInteractive: navigation.domInteractive, first: Math.min(...graphql.map((entry) => entry.startTime)) };
      })()`);
      expect(sentAt.first).toBeLessThan(sentAt.domInteractive);

      await tab.click('#sign-out');
      await tab.waitForSelector('#login-form:visible');
      expect(await tab.evaluate("sessionStorage.getItem('herald.apiKey')")).toBeNull();
      expect(await tab.isHidden('#app')).toBe(true);
    } finally {
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('reads deliveries on the cards (delivered, dead-lettered, retrying, success rate), shows the latest deliveries after a reload, in light and dark', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'Card shop' } });
    await herald.call(RegisterEndpointDocument, {
      input: { url: `${receiver.url}/orders`, applicationId: app.id, description: 'Order service', eventTypes: ['order.*'] },
    });
    await herald.call(RegisterEndpointDocument, {
      input: { url: `${receiver.url}/payments`, applicationId: app.id, description: 'Payments ledger', eventTypes: ['payment.*'] },
    });
    const appKey = await herald.createKey({ name: 'cards', applicationId: app.id });
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    // Nothing but Herald itself, here too: no font, style or script from anywhere else.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1') return route.continue();
      pageErrors.push(`request outside Herald: ${url.href}`);
      return route.abort();
    });
    const tab = await context.newPage();
    tab.on('pageerror', (error) => pageErrors.push(error.message));
    // The page's Content-Security-Policy allows no style attributes or other inline code: a refusal fails the test.
    tab.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) pageErrors.push(message.text());
    });
    const shots = async (name: string) => {
      for (const colorScheme of ['light', 'dark'] as const) {
        await tab.emulateMedia({ colorScheme });
        // Time for the charts to redraw in the scheme's colours and the controls' colour transitions to end.
        await tab.waitForTimeout(300);
        await tab.screenshot({ path: path.join(ARTIFACTS, `${name}-${colorScheme}.png`), fullPage: true });
      }
      await tab.emulateMedia({ colorScheme: 'light' });
    };
    // (This file is compiled without the DOM's types; the page's policy refuses strings to evaluate.)
    const cardsRead = (delivered: number, dead: number) =>
      tab.waitForFunction(
        ([delivered, dead]) => {
          const text = (id: string) =>
            (
              globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }
            ).document.getElementById(id)?.textContent;
          return text('stat-delivered') === delivered && text('stat-dead') === dead;
        },
        [String(delivered), String(dead)],
        { timeout: 10_000 },
      );
    const card = async (id: string) => ((await tab.innerText(`#card-${id}`)) ?? '').replace(/\s+/g, ' ').trim();
    try {
      await tab.goto(`${herald.url}/`);
      await shots('7-sign-in');
      await tab.fill('#api-key', appKey);
      await tab.click('#login-form button[type=submit]');
      await tab.waitForSelector('#live-status.live');
      expect(await tab.isVisible('#feed-empty')).toBe(true);

      // N deliveries that succeed and M that are dead-lettered on their only attempt (maxAttempts 1).
      const N = 5;
      const M = 3;
      const published: string[] = [];
      for (let index = 0; index < N; index += 1) {
        const { publishEvent } = await herald.call(PublishEventDocument, {
          input: { type: 'order.created', data: { orderId: `O-${100 + index}`, total: 1999 + index }, applicationId: app.id },
        });
        published.push(publishEvent.id);
      }
      for (let index = 0; index < M; index += 1) {
        failingMarkers.add(`card-decline-${index}`);
        const { publishEvent } = await herald.call(PublishEventDocument, {
          input: {
            type: 'payment.failed',
            data: { paymentId: `P-${index}`, orderId: `O-${100 + N + index}`, reason: `card-decline-${index}` },
            applicationId: app.id,
          },
        });
        published.push(publishEvent.id);
      }
      await cardsRead(N, M);
      const rate = (delivered: number, dead: number) => `${((delivered / (delivered + dead)) * 100).toFixed(1)}%`;
      expect(await card('delivered')).toBe(`Delivered ${N} deliveries in the window`);
      expect(await card('dead')).toBe(`Dead-lettered ${M} deliveries, still dead letters`);
      expect(await card('retrying')).toBe('Retrying now 0 deliveries waiting for a retry');
      expect(await card('success')).toBe(`Success rate ${rate(N, M)} delivered ÷ (delivered + dead)`);
      expect(await card('attempts')).toBe(`Attempts ${N + M} ${M} failed attempts`);
      expect(await tab.getAttribute('#chart-throughput', 'data-total')).toBe(String(N + M));
      // The legends say what they plot, not "Time: --".
      expect(await tab.textContent('[data-legend="chart-throughput"]')).toBe(`delivered${N}dead-lettered${M}failed attempts${M}`);
      expect(await tab.$$('.u-legend')).toHaveLength(0);
      // Hovering a point shows its time and values; leaving shows the window's again.
      const plot = (await (await tab.$('#chart-throughput .u-over'))?.boundingBox())!;
      await tab.mouse.move(plot.x + plot.width - 1, plot.y + plot.height / 2);
      await expect.poll(() => tab.textContent('[data-chart-hint="chart-throughput"]')).toMatch(/\d:\d\d/);
      await tab.mouse.move(0, 0);
      await expect.poll(() => tab.textContent('[data-chart-hint="chart-throughput"]')).toBe('per minute');
      expect(await tab.textContent('[data-legend="chart-throughput"]')).toBe(`delivered${N}dead-lettered${M}failed attempts${M}`);
      expect(await tab.innerText('body')).not.toContain('--');
      await shots('8-dashboard');

      // A dead letter retried by click and delivered is a delivered delivery, and no longer a dead letter.
      failingMarkers.delete('card-decline-0');
      const retried = published[N]!;
      await tab.click(`#dead-letters tr[data-event-id="${retried}"] button[data-action=retry]`);
      await cardsRead(N + 1, M - 1);
      expect(await tab.textContent('#stat-success')).toBe(rate(N + 1, M - 1));
      expect(await tab.textContent('#stat-retrying')).toBe('0');

      // After a reload the feed shows the latest deliveries at once, newest first, before anything new happens.
      await tab.reload();
      await tab.waitForSelector('#feed tr.feed-row');
      const rows = await tab.$$eval('#feed tr.feed-row', (nodes) =>
        nodes.map((node) => {
          const data = (node as unknown as { dataset: Record<string, string> }).dataset;
          return { eventId: data.eventId, status: data.status, source: data.source, at: data.at };
        }),
      );
      // Every delivery, each once, latest change first: the retried one, then the others.
      expect(rows.map((row) => row.eventId).sort()).toEqual([...published].sort());
      expect(rows[0]?.eventId).toBe(retried);
      const times = rows.map((row) => Date.parse(row.at ?? ''));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      expect(rows.every((row) => row.source === 'recent')).toBe(true);
      const statusOf = new Map(rows.map((row) => [row.eventId, row.status]));
      for (const id of published.slice(0, N)) expect(statusOf.get(id)).toBe('SUCCEEDED');
      expect(statusOf.get(retried)).toBe('SUCCEEDED');
      for (const id of published.slice(N + 1)) expect(statusOf.get(id)).toBe('DEAD');
      expect(await tab.isHidden('#feed-empty')).toBe(true);
      // The time column stays on one line: each time is one line box.
      const timeLines = await tab.$$eval('#feed td.time time', (nodes) =>
        nodes.map((node) => (node as unknown as { getClientRects(): { length: number } }).getClientRects().length),
      );
      expect(timeLines).toEqual(rows.map(() => 1));
      // Then live updates are prepended.
      const { publishEvent: live } = await herald.call(PublishEventDocument, {
        input: { type: 'order.created', data: { orderId: 'O-200' }, applicationId: app.id },
      });
      await tab.waitForSelector(`#feed tr.feed-row:first-child[data-event-id="${live.id}"][data-status="SUCCEEDED"][data-source="live"]`);
      await tab.click(`#feed tr[data-event-id="${published[N + 1]!}"]`);
      await tab.waitForSelector('#event-detail:not([hidden]) .attempt');
      await shots('9-reloaded-with-inspector');
    } finally {
      await context.close();
    }
    expect(pageErrors).toEqual([]);
  });

  async function waitForDeliveries(eventId: string): Promise<void> {
    await waitUntil(
      async () => receiver.requests.some((request) => request.body.includes(eventId)),
      (arrived) => arrived,
      10_000,
    );
  }
});
