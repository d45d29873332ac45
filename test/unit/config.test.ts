import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigError, loadConfig } from '../../src/config';

describe('configuration', () => {
  it('defaults to the standard schedule over days: 10 s timeout, 10 attempts, disable after 10 dead letters or 5 days failing', () => {
    const config = loadConfig({});
    expect(config.delivery).toMatchObject({
      timeoutMs: 10_000,
      retry: {
        schedule: {
          kind: 'delays',
          delaysMs: [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000],
        },
        maxAttempts: 10,
        maxAgeMs: 5 * 86_400_000,
        jitter: 0.2,
      },
      retryAfterMaxMs: 86_400_000,
      responseBodyMaxBytes: 16 * 1024,
      disableAfterDeadLetters: 10,
      disableAfterFailingMs: 5 * 86_400_000,
      endpointConcurrency: 64,
    });
    expect(config.worker).toMatchObject({
      heartbeatIntervalMs: 2_000,
      deadAfterMs: 10_000,
      concurrency: 128,
      thread: true,
      apiThreadNiceness: 10,
    });
    expect(config.retention).toEqual({ maxAgeMs: 30 * 86_400_000, batchSize: 1000 });
    expect(config.heapGrowthPercent).toBe(20);
    expect(config).toMatchObject({ host: '127.0.0.1', port: 4000, maxPayloadBytes: 256 * 1024, databaseUrl: undefined });
  });

  it('keeps the seed policy as a preset: DELIVERY_RETRY_POLICY=seed is 5 attempts exponential from 2 s', () => {
    expect(loadConfig({ DELIVERY_RETRY_POLICY: 'seed' }).delivery.retry).toEqual({
      schedule: { kind: 'exponential', baseMs: 2000, factor: 2, maxMs: 86_400_000 },
      maxAttempts: 5,
      maxAgeMs: null,
      jitter: 0.2,
    });
  });

  it('replaces parts of the policy from the environment', () => {
    expect(loadConfig({ DELIVERY_RETRY_SCHEDULE: '1s, 2m,3h,1d', DELIVERY_MAX_AGE_MS: '0' }).delivery.retry).toEqual({
      schedule: { kind: 'delays', delaysMs: [1000, 120_000, 10_800_000, 86_400_000] },
      maxAttempts: 5,
      maxAgeMs: null,
      jitter: 0.2,
    });
    expect(
      loadConfig({ DELIVERY_BACKOFF_BASE_MS: '500', DELIVERY_MAX_ATTEMPTS: '7', DELIVERY_BACKOFF_JITTER: '0' }).delivery.retry,
    ).toEqual({
      schedule: { kind: 'exponential', baseMs: 500, factor: 2, maxMs: 86_400_000 },
      maxAttempts: 7,
      maxAgeMs: 5 * 86_400_000,
      jitter: 0,
    });
    expect(() => loadConfig({ DELIVERY_RETRY_SCHEDULE: '5 minutes' })).toThrow(/DELIVERY_RETRY_SCHEDULE/);
    expect(() => loadConfig({ DELIVERY_RETRY_SCHEDULE: '5s', DELIVERY_BACKOFF_BASE_MS: '100' })).toThrow(/not both/);
    expect(() => loadConfig({ DELIVERY_RETRY_POLICY: 'fast' })).toThrow(/DELIVERY_RETRY_POLICY/);
  });

  it('documents every setting in .env.example', () => {
    const example = readFileSync(path.resolve(__dirname, '../../.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]));
    expect(CONFIG_KEYS.filter((key) => !documented.has(key))).toEqual([]);
    expect([...documented].filter((key) => !CONFIG_KEYS.includes(key!))).toEqual([]);
  });

  it("HEAP_GROWTH_PERCENT: 0 leaves V8's own heap growth; past 400 is refused, naming the setting", () => {
    expect(loadConfig({ HEAP_GROWTH_PERCENT: '0' }).heapGrowthPercent).toBe(0);
    expect(() => loadConfig({ HEAP_GROWTH_PERCENT: '401' })).toThrow(/HEAP_GROWTH_PERCENT/);
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

describe('security configuration', () => {
  it('refuses to start in production without HERALD_ENCRYPTION_KEY, saying how to make one', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/HERALD_ENCRYPTION_KEY is required.*openssl rand -base64 32/s);
    const config = loadConfig({ NODE_ENV: 'production', HERALD_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64') });
    expect(config.encryptionKey).toHaveLength(32);
    // Production never allows loopback on its own.
    expect(config.ssrf).toEqual({ allowCidrs: [], allowLoopback: false });
  });

  it('allows loopback only in development with the embedded database', () => {
    expect(loadConfig({}).ssrf.allowLoopback).toBe(true);
    expect(loadConfig({ DATABASE_URL: 'postgres://x@127.0.0.1/db' }).ssrf.allowLoopback).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test' }).ssrf.allowLoopback).toBe(false);
  });

  it('validates the encryption key and the SSRF allow-list', () => {
    expect(() => loadConfig({ HERALD_ENCRYPTION_KEY: 'short' })).toThrow(/HERALD_ENCRYPTION_KEY/);
    expect(() => loadConfig({ SSRF_ALLOW_CIDRS: '10.0.0.0/8,not-a-cidr' })).toThrow(/SSRF_ALLOW_CIDRS/);
    expect(loadConfig({ SSRF_ALLOW_CIDRS: ' 10.0.0.0/8 , fd00::/8 ' }).ssrf.allowCidrs).toEqual(['10.0.0.0/8', 'fd00::/8']);
  });
});
