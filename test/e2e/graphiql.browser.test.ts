import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, describe, expect, it, onTestFailed } from 'vitest';
import { launchChromium } from '../helpers/browser';
import { heraldTestWith } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';

const ARTIFACTS = path.resolve('test-results/graphiql');

/** The little of the page's globals these page functions use (this file is compiled without the DOM's types). */
interface InPage {
  document: {
    addEventListener(
      type: 'securitypolicyviolation',
      listener: (event: { effectiveDirective: string; blockedURI: string; sourceFile: string; lineNumber: number }) => void,
    ): void;
    querySelector(selector: string): { textContent: string | null } | null;
    createElement(tag: 'script'): { textContent: string | null };
    body: { append(node: unknown): void };
  };
  /** Exposed by the test (page.exposeFunction). */
  reportCspViolation(text: string): Promise<void>;
}

/** What went wrong in a page: uncaught errors, console errors, CSP violations and requests that left Herald. */
interface Watched {
  page: Page;
  problems: string[];
  /** Every answer from /graphql, in order. */
  graphql: Array<{ status: number; body: string }>;
}

async function watch(context: BrowserContext): Promise<Watched> {
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const watched: Watched = { page, problems: [], graphql: [] };
  page.on('pageerror', (error) => watched.problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') watched.problems.push(`console error: ${message.text()}`);
  });
  // Reported by the browser for every blocked load, inline script or style, eval and connection.
  await page.exposeFunction('reportCspViolation', (text: string) => watched.problems.push(`CSP violation: ${text}`));
  await page.addInitScript(() => {
    const { document, reportCspViolation } = globalThis as unknown as InPage;
    document.addEventListener('securitypolicyviolation', (event) => {
      void reportCspViolation(
        `${event.effectiveDirective} blocked ${event.blockedURI || 'inline'} (${event.sourceFile}:${event.lineNumber})`,
      );
    });
  });
  page.on('response', (response) => {
    if (new URL(response.url()).pathname !== '/graphql') return;
    void response.text().then(
      (body) => watched.graphql.push({ status: response.status(), body }),
      () => watched.graphql.push({ status: response.status(), body: '' }),
    );
  });
  // Only Herald itself may be reached: anything else the page asks for fails the test.
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1') return route.continue();
    watched.problems.push(`request outside Herald: ${url.href}`);
    return route.abort();
  });
  return watched;
}

/** The text a Monaco editor shows (it renders spaces as no-break spaces). */
async function editorText(page: Page, selector: string): Promise<string> {
  return ((await page.locator(`${selector} .view-lines`).first().innerText()) ?? '').replace(/\u00a0/g, ' ');
}

/** Waits until a Monaco editor shows the text. */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([selector, text]) =>
      (globalThis as unknown as InPage).document
        .querySelector(`${selector} .view-lines`)
        ?.textContent?.replace(/\u00a0/g, ' ')
        .includes(text),
    [selector, text] as const,
  );
}

/** Replaces a Monaco editor's text the way a user would: click in it, select all, paste. */
async function pasteInto(page: Page, editor: string, text: string): Promise<void> {
  await page.locator(editor).click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

const heraldFile = heraldTestWith();

describe('GraphiQL and the dashboard in headless Chromium, under their Content-Security-Policy', () => {
  let herald: TestHerald;
  let browser: Browser;

  heraldFile.beforeAll(async ({ herald: fileHerald }) => {
    herald = fileHerald;
    await mkdir(ARTIFACTS, { recursive: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it("GraphiQL opens on Herald's first screen with the schema and no error before a key is pasted, then runs a query with the pasted key", async () => {
    // A fresh profile: nothing stored from an earlier visit.
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const { page, problems, graphql } = await watch(context);
    onTestFailed(async () => {
      await page.screenshot({ path: path.join(ARTIFACTS, 'failed.png') });
      console.log('problems:', problems, 'answers:', graphql);
    });
    await page.goto(`${herald.url}/graphiql`);

    // Herald's first screen in the query editor, and the Headers tab open with where the key goes.
    await waitForText(page, '.graphiql-query-editor', 'Herald GraphiQL');
    const firstScreen = await editorText(page, '.graphiql-query-editor');
    expect(firstScreen).toContain('Herald GraphiQL');
    expect(firstScreen).toContain('{"Authorization": "Bearer <key>"}');
    expect(firstScreen).not.toMatch(/Ruru/);
    expect(await editorText(page, '.monaco-editor[data-uri$="-request-headers.json"]')).toContain('"Authorization": "Bearer <key>"');
    // The schema's fetch answered (not 'networkidle', which a busy machine can keep from coming).
    await expect.poll(() => graphql.length, { timeout: 30_000 }).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'first-screen.png') });
    // The schema came without a key: the docs explorer lists the root types.
    await page.locator('.graphiql-sidebar button[aria-label="Show Documentation Explorer"]').click();
    await page.locator('.graphiql-doc-explorer').getByText('Mutation', { exact: true }).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'docs-without-key.png') });

    expect(graphql.length, 'the schema was fetched').toBeGreaterThan(0);
    expect(graphql.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(await page.locator('body').innerText()).not.toMatch(/UNAUTHENTICATED|needs an API key/);

    // Paste the key in the headers editor, and a query in the query editor, and run it.
    await pasteInto(page, '.monaco-editor[data-uri$="-request-headers.json"]', `{"Authorization": "Bearer ${herald.adminKey}"}`);
    await pasteInto(page, '.monaco-editor[data-uri$="-operation.graphql"]', '{ currentApiKey { name kind } }');
    // GraphiQL takes an edit after a pause: until then the run button is a menu of the first screen's operations.
    await page.locator('.graphiql-tab-active').getByText('<untitled>').waitFor();
    await page.locator('.graphiql-execute-button').click();
    await waitForText(page, '.result-window', 'test admin key');
    expect(await editorText(page, '.result-window')).toMatch(/"kind": "ADMIN"/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'query-with-key.png') });
    expect(problems).toEqual([]);

    // The watch sees violations, and the policy holds: a script injected into the page does not run.
    await page.evaluate(() => {
      const { document } = globalThis as unknown as InPage;
      const injected = document.createElement('script');
      injected.textContent = 'document.body.dataset.injected = "ran"';
      document.body.append(injected);
    });
    await expect.poll(() => problems).toContainEqual(expect.stringMatching(/^CSP violation: script-src-elem blocked inline/));
    expect(problems.every((problem) => /^CSP violation|Content Security Policy/.test(problem))).toBe(true);
    expect(await page.locator('body').getAttribute('data-injected')).toBeNull();
    await context.close();
  }, 90_000);

  it('the dashboard loads, signs in and opens its live connection with no CSP violation', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const { page, problems, graphql } = await watch(context);
    await page.goto(`${herald.url}/`);
    await page.waitForLoadState('networkidle');
    // The page opens its socket after its first data: under a loaded machine (the whole suite at once) that took over
    // Playwright's default 15 s, so the wait gets the test's own budget.
    const socket = page.waitForEvent('websocket', { timeout: 60_000 });
    await page.locator('input[type=password]').fill(herald.adminKey);
    await page.keyboard.press('Enter');
    const opened = await socket;
    expect(new URL(opened.url()).pathname).toBe('/graphql');
    await opened.waitForEvent('framereceived', { timeout: 60_000 });
    await page.waitForLoadState('networkidle');
    expect(graphql.filter((answer) => answer.status !== 200)).toEqual([]);
    expect(problems).toEqual([]);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-signed-in.png') });
    await context.close();
  }, 90_000);
});
