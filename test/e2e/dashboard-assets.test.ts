import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect } from 'vitest';
import { heraldTest as it } from '../helpers/fixtures';

/** A raw GET: the body as sent, not decompressed, with the headers. */
function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard page and its assets', () => {
  it('page: never cached stale, with its first-paint script and styles inline; assets: cached for good, brotli or gzip when accepted', async ({
    herald,
  }) => {
    const page = await get(`${herald.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-cache');
    const html = page.body.toString('utf8');
    // The first paint waits for no other request: the script that asks for the first metrics and the
    // style sheet are in the page itself.
    expect(html).toMatch(/<script>[^<]*query DashboardMetrics/);
    expect(html).toMatch(/<style>[^<]*\.uplot/);
    expect(html).not.toMatch(/<link rel="stylesheet"/);
    const script = /<script type="module" crossorigin src="(\/dashboard\/assets\/[\w-]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const lazy = /\.\/(main-[\w-]+\.js)/.exec((await get(`${herald.url}${script!}`)).body.toString('utf8'))?.[1];
    expect(lazy).toBeDefined();

    for (const asset of [script!, `/dashboard/assets/${lazy!}`]) {
      const plain = await get(`${herald.url}${asset}`);
      expect(plain.status).toBe(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      const type = asset.endsWith('.js') ? /javascript/ : /text\/css/;
      expect(plain.headers['content-type']).toMatch(type);

      const brotli = await get(`${herald.url}${asset}`, { 'accept-encoding': 'gzip, deflate, br' });
      expect(brotli.headers['content-encoding']).toBe('br');
      expect(brotli.headers['content-type']).toMatch(type);
      expect(brotli.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(brotli.headers.vary).toMatch(/accept-encoding/i);
      expect(brotli.body.length).toBeLessThan(plain.body.length);
      expect(brotliDecompressSync(brotli.body).equals(plain.body)).toBe(true);

      const gzip = await get(`${herald.url}${asset}`, { 'accept-encoding': 'gzip' });
      expect(gzip.headers['content-encoding']).toBe('gzip');
      expect(gunzipSync(gzip.body).equals(plain.body)).toBe(true);
    }

    // Only names the build wrote are looked up.
    expect((await get(`${herald.url}/dashboard/assets/..%2f..%2fpackage.json`, { 'accept-encoding': 'br' })).status).toBe(404);
    expect((await get(`${herald.url}/dashboard/assets/missing.js`, { 'accept-encoding': 'br' })).status).toBe(404);
  });
});
