import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald } from '../helpers/herald';

describe('GraphiQL at /graphiql', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url);
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it('is served offline: every script and stylesheet comes from Herald itself, and subscriptions use graphql-ws on /graphql', async () => {
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

  it('answers /healthz', async () => {
    const response = await fetch(`${herald.url}/healthz`);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
