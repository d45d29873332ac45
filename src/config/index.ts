import path from 'node:path';
import { z } from 'zod';

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const boolean = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((value) => value === 'true' || value === '1' || value === 'yes');

/**
 * Every setting Herald reads from the environment, with its default. `.env.example` documents the same
 * list; this module is the only place that reads `process.env`.
 */
const environmentSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATABASE_URL: z.string().url().optional(),
  HERALD_DATA_DIR: z.string().default('.herald'),
  HOST: z.string().default('127.0.0.1'),
  PORT: integer(0, 65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: boolean.optional(),
  GRAPHIQL_ENABLED: boolean.default(true),
  INTROSPECTION_ENABLED: boolean.default(true),
  WORKER_CONCURRENCY: integer(1, 1000).default(32),
  WORKER_POLL_INTERVAL_MS: integer(50, 60_000).default(1000),
  DELIVERY_TIMEOUT_MS: integer(100, 300_000).default(10_000),
  DELIVERY_MAX_ATTEMPTS: integer(1, 100).default(5),
  DELIVERY_BACKOFF_BASE_MS: integer(0, 86_400_000).default(2000),
  DELIVERY_BACKOFF_FACTOR: z.coerce.number().min(1).max(100).default(2),
  DELIVERY_BACKOFF_MAX_MS: integer(0, 30 * 86_400_000).default(86_400_000),
  DELIVERY_BACKOFF_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  DELIVERY_RESPONSE_BODY_MAX_BYTES: integer(0, 1024 * 1024).default(16 * 1024),
  ENDPOINT_DISABLE_AFTER_DEAD_LETTERS: integer(0, 100_000).default(10),
  MAX_PAYLOAD_BYTES: integer(1024, 64 * 1024 * 1024).default(256 * 1024),
  SHUTDOWN_GRACE_MS: integer(0, 600_000).default(15_000),
  METRICS_PUSH_INTERVAL_MS: integer(500, 300_000).default(5000),
  METRICS_MIN_PUSH_GAP_MS: integer(0, 60_000).default(1000),
});

/** Every environment variable Herald reads; .env.example documents each one (a test checks). */
export const CONFIG_KEYS = Object.keys(environmentSchema.shape);

export interface HeraldConfig {
  env: 'development' | 'production' | 'test';
  databaseUrl: string | undefined;
  /** Project-local folder for the embedded database and other local state. */
  dataDir: string;
  host: string;
  port: number;
  logLevel: string;
  logPretty: boolean;
  graphiql: boolean;
  introspection: boolean;
  worker: { concurrency: number; pollIntervalMs: number };
  delivery: {
    timeoutMs: number;
    maxAttempts: number;
    backoff: { baseMs: number; factor: number; maxMs: number; jitter: number };
    responseBodyMaxBytes: number;
    disableAfterDeadLetters: number;
  };
  maxPayloadBytes: number;
  shutdownGraceMs: number;
  /** metricsUpdated: a push at least every pushIntervalMs, and no two closer than minPushGapMs. */
  metrics: { pushIntervalMs: number; minPushGapMs: number };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(source: Record<string, string | undefined> = process.env, overrides: Partial<HeraldConfig> = {}): HeraldConfig {
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = environmentSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n');
    throw new ConfigError(`Invalid configuration in the environment:\n${problems}\nSee .env.example for every setting.`);
  }
  const e = parsed.data;
  const config: HeraldConfig = {
    env: e.NODE_ENV,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.HERALD_DATA_DIR),
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY ?? (e.NODE_ENV === 'development' && process.stdout.isTTY === true),
    graphiql: e.GRAPHIQL_ENABLED,
    introspection: e.INTROSPECTION_ENABLED,
    worker: { concurrency: e.WORKER_CONCURRENCY, pollIntervalMs: e.WORKER_POLL_INTERVAL_MS },
    delivery: {
      timeoutMs: e.DELIVERY_TIMEOUT_MS,
      maxAttempts: e.DELIVERY_MAX_ATTEMPTS,
      backoff: {
        baseMs: e.DELIVERY_BACKOFF_BASE_MS,
        factor: e.DELIVERY_BACKOFF_FACTOR,
        maxMs: e.DELIVERY_BACKOFF_MAX_MS,
        jitter: e.DELIVERY_BACKOFF_JITTER,
      },
      responseBodyMaxBytes: e.DELIVERY_RESPONSE_BODY_MAX_BYTES,
      disableAfterDeadLetters: e.ENDPOINT_DISABLE_AFTER_DEAD_LETTERS,
    },
    maxPayloadBytes: e.MAX_PAYLOAD_BYTES,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    metrics: { pushIntervalMs: e.METRICS_PUSH_INTERVAL_MS, minPushGapMs: e.METRICS_MIN_PUSH_GAP_MS },
  };
  return { ...config, ...overrides };
}
