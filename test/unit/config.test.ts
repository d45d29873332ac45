import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../src/config';

describe('configuration', () => {
  it('has the seed design defaults: 10 s timeout, 5 attempts, exponential from 2 s, disable after 10 dead letters', () => {
    const config = loadConfig({});
    expect(config.delivery).toMatchObject({
      timeoutMs: 10_000,
      maxAttempts: 5,
      backoff: { baseMs: 2000, factor: 2 },
      responseBodyMaxBytes: 16 * 1024,
      disableAfterDeadLetters: 10,
    });
    expect(config).toMatchObject({ host: '127.0.0.1', port: 4000, maxPayloadBytes: 256 * 1024, databaseUrl: undefined });
  });

  it('documents every setting in .env.example', () => {
    const example = readFileSync(path.resolve(__dirname, '../../.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]));
    expect(CONFIG_KEYS.filter((key) => !documented.has(key))).toEqual([]);
    expect([...documented].filter((key) => !CONFIG_KEYS.includes(key!))).toEqual([]);
  });

  it('refuses invalid values with a message naming each setting', () => {
    expect(() => loadConfig({ PORT: 'eighty', DELIVERY_MAX_ATTEMPTS: '0' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'not a url' });
    } catch (error) {
      expect((error as Error).message).toMatch(/PORT/);
      expect((error as Error).message).toMatch(/DATABASE_URL/);
      expect((error as Error).message).toMatch(/\.env\.example/);
    }
  });
});
