import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('the package entry point (after npm run build)', () => {
  it("exports the receiver and producer SDKs as require('herald')", () => {
    const script = `
      const herald = require('herald');
      const body = '{"a":1}';
      const secret = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
      const headers = herald.signWebhook({ secret, body });
      const verified = herald.verifyWebhook(body, headers, { secrets: secret });
      console.log(JSON.stringify({
        keys: Object.keys(herald).sort(),
        verified: verified.payload,
        client: new herald.HeraldClient({ url: 'http://127.0.0.1:4000' }).graphqlUrl,
      }));`;
    const output = execFileSync(process.execPath, ['-e', script], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' });
    const result = JSON.parse(output) as { keys: string[]; verified: unknown; client: string };
    expect(result.keys).toEqual(
      expect.arrayContaining([
        'HeraldClient',
        'HeraldApiError',
        'verifyWebhook',
        'WebhookVerifier',
        'webhookMiddleware',
        'createWebhookHandler',
        'MemoryDedupeStore',
        'signWebhook',
      ]),
    );
    expect(result.verified).toEqual({ a: 1 });
    expect(result.client).toBe('http://127.0.0.1:4000/graphql');
  });
});
