import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../src/db/embedded-postgres';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/lib/logger';
import { CreateApplicationDocument, PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { createTestDatabase } from '../helpers/database';
import { type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

function family(families: PrometheusFamily[], name: string): PrometheusFamily {
  const found = families.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no metric family ${name} in ${families.map((f) => f.name).join(', ')}`);
  return found;
}

describe('/metrics with METRICS_TOKEN: only scrapes that send the token are answered', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  const token = 'scrape-token-0123456789abcdef';

  beforeAll(async () => {
    database = await createTestDatabase();
    const base = testConfig(database.url);
    herald = await startTestHerald(database.url, { config: { metrics: { ...base.metrics, scrapeToken: token } } });
  });
  afterAll(async () => {
    await herald?.stop();
    await database?.drop();
  });

  it('answers 401 with WWW-Authenticate without the token or with another, and the metrics with it', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: `Bearer ${token}x` },
      { authorization: `Basic ${token}` },
      { authorization: 'Bearer' },
    ]) {
      const refused = await fetch(`${herald.url}/metrics`, { headers });
      expect(refused.status, JSON.stringify(headers)).toBe(401);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await refused.text()).toMatch(/METRICS_TOKEN/);
    }
    const answered = await fetch(`${herald.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(answered.status).toBe(200);
    expect(family(parsePrometheusTextFormat(await answered.text()), 'herald_deliveries_total').type).toBe('COUNTER');
  });

  it('refuses a token shorter than 16 characters at start-up, saying what it needs', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be 16 to 256 characters/);
  });
});

describe('/metrics: Prometheus text exposition', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    database = await createTestDatabase();
    herald = await startTestHerald(database.url, {
      config: { delivery: { ...testConfig(database.url).delivery, retry: { ...testConfig(database.url).delivery.retry, maxAttempts: 1 } } },
    });
    receiver = await WebhookReceiver.start((request) => ({ status: request.body.includes('"fail":true') ? 500 : 200 }));
  });
  afterAll(async () => {
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it('parses with a Prometheus text-format parser and reports outcomes, latency, queue, endpoints and the process', async () => {
    const { createApplication: app } = await herald.call(CreateApplicationDocument, { input: { name: 'prom' } });
    await herald.call(RegisterEndpointDocument, { input: { url: receiver.url, applicationId: app.id } });
    for (const fail of [false, false, false, true]) {
      await herald.call(PublishEventDocument, { input: { type: 'prom.test', data: { fail }, applicationId: app.id } });
    }
    const families = await waitUntil(
      async () => {
        const response = await fetch(`${herald.url}/metrics`);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toContain('text/plain');
        return parsePrometheusTextFormat(await response.text());
      },
      (parsed) => {
        const outcomes = parsed.find((f) => f.name === 'herald_deliveries_total')?.metrics ?? [];
        return outcomes.reduce((sum, metric) => sum + Number(metric.value), 0) === 4;
      },
    );

    const outcomes = family(families, 'herald_deliveries_total');
    expect(outcomes.type).toBe('COUNTER');
    const byOutcome = Object.fromEntries(outcomes.metrics.map((metric) => [metric.labels?.outcome, Number(metric.value)]));
    expect(byOutcome).toEqual({ delivered: 3, failed: 0, dead: 1 });

    const latency = family(families, 'herald_attempt_duration_seconds');
    expect(latency.type).toBe('HISTOGRAM');
    expect(Number(latency.metrics[0]?.count)).toBe(4);
    expect(Number(latency.metrics[0]?.buckets?.['+Inf'])).toBe(4);
    expect(Number(latency.metrics[0]?.sum)).toBeGreaterThan(0);

    const queue = family(families, 'herald_queue_depth');
    expect(queue.type).toBe('GAUGE');
    expect(queue.metrics.map((metric) => metric.labels?.state).sort()).toEqual(['pending', 'scheduled']);
    expect(family(families, 'herald_oldest_pending_delivery_age_seconds').type).toBe('GAUGE');

    const endpoints = family(families, 'herald_endpoints');
    const byState = Object.fromEntries(endpoints.metrics.map((metric) => [metric.labels?.state, Number(metric.value)]));
    expect(byState.degraded).toBe(1);
    expect(Object.keys(byState).sort()).toEqual(['degraded', 'disabled', 'failing', 'healthy']);

    expect(Number(family(families, 'herald_process_resident_memory_bytes').metrics[0]?.value)).toBeGreaterThan(0);
    expect(family(families, 'herald_nodejs_eventloop_lag_seconds').type).toBe('GAUGE');
  });
});

describe('/healthz and /readyz with the database stopped and started again', () => {
  let dataDir: string;
  let postgres: EmbeddedPostgresHandle;
  let herald: TestHerald;
  const logger = createLogger({ level: 'warn', pretty: false, name: 'readyz-postgres' });

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-test-pg-readyz-'));
    postgres = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pgdata'), logger, durable: false });
    const admin = new pg.Client({ connectionString: postgres.adminUrl });
    await admin.connect();
    await admin.query('create database herald');
    await admin.end();
    herald = await startTestHerald(postgres.urlFor('herald'));
  });
  afterAll(async () => {
    await herald?.stop();
    await postgres?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const readyz = async () => {
    const response = await fetch(`${herald.url}/readyz`);
    return { status: response.status, body: (await response.json()) as { status: string; checks: Record<string, string> } };
  };

  it('is ready, becomes unavailable while PostgreSQL is down, and ready again once it is back', async () => {
    const up = await readyz();
    expect(up).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'ok', migrations: 'ok', worker: 'ok' } } });

    await postgres.stop();
    const down = await waitUntil(readyz, (result) => result.status === 503, 15_000, 200);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.checks.database).toMatch(/^unreachable: /);
    // Alive is not ready: the process itself still answers.
    expect((await fetch(`${herald.url}/healthz`)).status).toBe(200);

    postgres = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'pgdata'), logger, durable: false, port: postgres.port });
    const back = await waitUntil(readyz, (result) => result.status === 200, 30_000, 200);
    expect(back.body).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', worker: 'ok' } });
  });
});
