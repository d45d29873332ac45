import { describe, expect } from 'vitest';
import { heraldTest as it } from '../helpers/fixtures';

describe('GraphiQL at /graphiql', () => {
  it('is served offline: every script and stylesheet comes from Herald itself, and subscriptions use graphql-ws on /graphql', async ({
    herald,
  }) => {
    const response = await fetch(`${herald.url}/graphiql`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    const html = await response.text();
    expect(html).toContain('Herald GraphiQL');
    const assetUrls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assetUrls.length).toBeGreaterThan(0);
    for (const asset of assetUrls) {
      expect(asset, 'no CDN').not.toMatch(/^(https?:)?\/\//);
      const fetched = await fetch(new URL(asset, herald.url));
      expect(fetched.status, asset).toBe(200);
    }
    expect(html).toContain(`${herald.url.replace('http', 'ws')}/graphql`);
  });

  it('answers /healthz', async ({ herald }) => {
    const response = await fetch(`${herald.url}/healthz`);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
