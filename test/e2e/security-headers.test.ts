import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { CurrentApiKeyDocument } from '../../src/sdk/generated/graphql';
import { heraldTestWith } from '../helpers/fixtures';
import type { TestHerald } from '../helpers/herald';

/** A raw GET or POST (no redirect following, no decompression), with the headers as sent. */
function send(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A policy's directives, each with its sources. */
function directivesOf(policy: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), sources);
  }
  return directives;
}

/** The sha256 source of every inline <script> (or <style>) of a page, as a browser computes it. */
function inlineHashes(html: string, element: 'script' | 'style'): string[] {
  const pattern = new RegExp(`<${element}\\b([^>]*)>([\\s\\S]*?)</${element}\\s*>`, 'gi');
  return [...html.matchAll(pattern)]
    .filter((match) => !/\bsrc\s*=/i.test(match[1]!))
    .map((match) => `'sha256-${createHash('sha256').update(match[2]!.replace(/\r\n?/g, '\n')).digest('base64')}'`);
}

const PAGES = ['/', '/dashboard', '/dashboard/', '/dashboard/index.html', '/graphiql', '/docs/events'];

const heraldFile = heraldTestWith();

describe('security headers on every page Herald serves', () => {
  let herald: TestHerald;
  let host: string;

  heraldFile.beforeAll(async ({ herald: fileHerald }) => {
    herald = fileHerald;
    host = new URL(herald.url).host;
  });

  it.each(PAGES)('%s: unframeable, no sniffing, no referrer, and a policy that allows only Herald itself', async (path) => {
    const page = await send(`${herald.url}${path}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');

    const policy = page.headers['content-security-policy'];
    expect(typeof policy, 'a Content-Security-Policy header').toBe('string');
    const directives = directivesOf(policy as string);
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('base-uri')).toEqual(["'none'"]);
    expect(directives.get('object-src') ?? ["'none'"]).toEqual(["'none'"]);
    // Nothing from another origin, no eval, no blanket inline scripts.
    for (const [name, sources] of directives) {
      for (const source of sources) {
        const allowed =
          ["'self'", "'none'"].includes(source) ||
          /^'sha256-[A-Za-z0-9+/]+=*'$/.test(source) ||
          (source === 'data:' && ['img-src', 'font-src'].includes(name)) ||
          (source === "'unsafe-inline'" && name === 'style-src' && path === '/graphiql') ||
          (name === 'connect-src' && (source === `ws://${host}` || source === `wss://${host}`));
        expect(allowed, `${name} ${source}`).toBe(true);
      }
    }
    expect(directives.get('connect-src') ?? []).toContain("'self'");

    // Each inline script of the page is allowed by its hash (and inline styles too, unless the page allows them all).
    const html = page.body.toString('utf8');
    const scriptSources = directives.get('script-src') ?? [];
    for (const hash of inlineHashes(html, 'script')) expect(scriptSources, 'inline script allowed by its hash').toContain(hash);
    const styleSources = directives.get('style-src') ?? [];
    if (!styleSources.includes("'unsafe-inline'")) {
      for (const hash of inlineHashes(html, 'style')) expect(styleSources, 'inline style allowed by its hash').toContain(hash);
    }
  });

  it('the dashboard page is allowed its inlined first-paint script by hash', async () => {
    const page = await send(`${herald.url}/`);
    const html = page.body.toString('utf8');
    const hashes = inlineHashes(html, 'script');
    expect(hashes.length, 'the built page has an inline script').toBeGreaterThan(0);
    const scriptSources = directivesOf(page.headers['content-security-policy'] as string).get('script-src') ?? [];
    expect(scriptSources).not.toContain("'unsafe-inline'");
    expect(scriptSources).toEqual(expect.arrayContaining(["'self'", ...hashes]));
  });

  it('/favicon.ico is an icon made by Herald, not a 404', async () => {
    const icon = await send(`${herald.url}/favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers['content-type']).toMatch(/^image\/(x-icon|vnd\.microsoft\.icon)/);
    expect(icon.headers['x-content-type-options']).toBe('nosniff');
    // ICONDIR: reserved 0, type 1 (icon), at least one image.
    expect(icon.body.readUInt16LE(0)).toBe(0);
    expect(icon.body.readUInt16LE(2)).toBe(1);
    expect(icon.body.readUInt16LE(4)).toBeGreaterThanOrEqual(1);
    const head = await send(`${herald.url}/favicon.ico`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const graphiql = (await send(`${herald.url}/graphiql`)).body.toString('utf8');
    expect(graphiql).toMatch(/<link rel="icon"[^>]* href="\/favicon\.ico"/);
  });

  it('API answers are never sniffed or framed either, on both routes to /graphql', async () => {
    const body = JSON.stringify({ query: '{ currentApiKey { name } }' });
    // The plain JSON POST (the API's hot path) and a POST through express (another content type spelling).
    for (const contentType of ['application/json', 'application/json; charset=UTF-8; x=1']) {
      const answer = await send(`${herald.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': contentType, authorization: `Bearer ${herald.adminKey}` },
        body,
      });
      expect(answer.status, contentType).toBe(200);
      expect(answer.headers['x-content-type-options'], contentType).toBe('nosniff');
      expect(answer.headers['x-frame-options'], contentType).toBe('DENY');
    }
    const refused = await send(`${herald.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(refused.status).toBe(401);
    expect(refused.headers['x-content-type-options']).toBe('nosniff');
    // Still answers as before.
    expect((await herald.call(CurrentApiKeyDocument)).currentApiKey.name).toBe('test admin key');
  });
});
