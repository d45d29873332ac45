import path from 'node:path';
import { z } from 'zod';
import { CLI_CONFIG_KEYS } from './cli';
import { parseCidr } from '../delivery/ssrf-guard';
import { parseEncryptionKey } from '../lib/encryption';
import { type RetryPolicy, parseDurationList, retryPolicyProblem, retryPreset } from '../delivery/retry-policy';

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
  EMBEDDED_POSTGRES_PORT: integer(1, 65535).optional(),
  DATABASE_STARTUP_WAIT_MS: integer(0, 3_600_000).default(60_000),
  HOST: z.string().default('127.0.0.1'),
  PORT: integer(0, 65535).default(4000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: boolean.optional(),
  GRAPHIQL_ENABLED: boolean.default(true),
  INTROSPECTION_ENABLED: boolean.default(true),
  WORKER_CONCURRENCY: integer(1, 1000).default(128),
  WORKER_THREAD: boolean.default(true),
  API_THREAD_NICENESS: integer(0, 19).default(10),
  HEAP_GROWTH_PERCENT: integer(0, 400).default(20),
  WORKER_POLL_INTERVAL_MS: integer(50, 60_000).default(1000),
  WORKER_LOCAL_QUEUE_SIZE: integer(0, 10_000).default(64),
  WORKER_COMPLETE_BATCH_DELAY_MS: integer(0, 1000).default(2),
  RETRY_CONCURRENCY_SHARE: z.coerce.number().gt(0).max(1).default(0.5),
  DELIVERY_TIMEOUT_MS: integer(100, 300_000).default(10_000),
  DELIVERY_RETRY_POLICY: z.enum(['standard', 'seed']).default('standard'),
  DELIVERY_RETRY_SCHEDULE: z.string().optional(),
  DELIVERY_MAX_ATTEMPTS: integer(1, 100).optional(),
  DELIVERY_MAX_AGE_MS: integer(0, 30 * 86_400_000).optional(),
  DELIVERY_BACKOFF_BASE_MS: integer(0, 30 * 86_400_000).optional(),
  DELIVERY_BACKOFF_FACTOR: z.coerce.number().min(1).max(100).optional(),
  DELIVERY_BACKOFF_MAX_MS: integer(0, 30 * 86_400_000).optional(),
  DELIVERY_BACKOFF_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  DELIVERY_RETRY_AFTER_MAX_MS: integer(0, 30 * 86_400_000).default(86_400_000),
  DELIVERY_RESPONSE_BODY_MAX_BYTES: integer(0, 1024 * 1024).default(16 * 1024),
  ENDPOINT_DISABLE_AFTER_DEAD_LETTERS: integer(0, 100_000).default(10),
  ENDPOINT_DISABLE_AFTER_FAILING_MS: integer(0, 365 * 86_400_000).default(5 * 86_400_000),
  ENDPOINT_MAX_CONCURRENCY: integer(1, 1000).default(64),
  ENDPOINT_THROTTLE_PAUSE_MS: integer(0, 86_400_000).default(5000),
  ENDPOINT_SLOT_WAIT_MS: integer(0, 10_000).default(100),
  WORKER_HEARTBEAT_INTERVAL_MS: integer(100, 600_000).default(2_000),
  WORKER_DEAD_AFTER_MS: integer(500, 3_600_000).default(10_000),
  REPLAY_RATE_PER_SECOND: integer(1, 100_000).default(200),
  OPERATOR_APPLICATION_ID: z.string().min(1).max(255).optional(),
  OPERATOR_EVENT_SUPPRESSION_MS: integer(0, 86_400_000).default(60_000),
  RETENTION_MAX_AGE_DAYS: z.coerce.number().min(0).max(36_500).default(30),
  RETENTION_BATCH_SIZE: integer(1, 100_000).default(1000),
  MAX_PAYLOAD_BYTES: integer(1024, 64 * 1024 * 1024).default(256 * 1024),
  DELIVER_AT_MAX_AHEAD_DAYS: z.coerce.number().min(0).max(90).default(30),
  SHUTDOWN_GRACE_MS: integer(0, 600_000).default(15_000),
  CATALOG_STRICT: boolean.default(false),
  HERALD_ENCRYPTION_KEY: z
    .string()
    .refine(
      (value) => parseEncryptionKey(value) !== undefined,
      'must be 32 bytes as base64 or hex: generate one with `openssl rand -base64 32`',
    )
    .optional(),
  SSRF_ALLOW_CIDRS: z
    .string()
    .default('')
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .refine(
      (cidrs) => cidrs.every((cidr) => parseCidr(cidr) !== undefined),
      'must be a comma-separated list of CIDRs such as 10.0.0.0/8,fd00::/8',
    ),
  API_RATE_LIMIT_PER_MINUTE: integer(0, 10_000_000).default(300_000),
  API_RATE_LIMIT_BURST: integer(1, 1_000_000).default(10_000),
  API_KEY_CACHE_TTL_MS: integer(0, 300_000).default(10_000),
  GRAPHQL_MAX_DEPTH: integer(2, 100).default(10),
  GRAPHQL_MAX_COST: integer(10, 10_000_000).default(20_000),
  GRAPHQL_MAX_DOCUMENT_BYTES: integer(256, 1024 * 1024).default(16 * 1024),
  METRICS_PUSH_INTERVAL_MS: integer(500, 300_000).default(5000),
  METRICS_TOKEN: z
    .string()
    .regex(/^\S{16,256}$/, 'METRICS_TOKEN must be 16 to 256 characters with no spaces')
    .optional(),
  METRICS_MIN_PUSH_GAP_MS: integer(0, 60_000).default(1000),
  PORTAL_FRAME_ANCESTORS: z
    .string()
    .default('')
    .transform((value) => value.split(/[\s,]+/).filter(Boolean))
    .refine(
      (origins) => origins.every((origin) => /^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(origin)),
      'must be a comma-separated list of origins such as https://app.example.com,https://*.example.com (scheme, host and port only)',
    ),
  PORTAL_PUBLIC_URL: z
    .string()
    .url()
    .transform((value) => value.replace(/\/+$/, ''))
    .optional(),
});

/** Every environment variable Herald reads; .env.example documents each one (a test checks). */
export const CONFIG_KEYS = [...Object.keys(environmentSchema.shape), ...CLI_CONFIG_KEYS];

export interface HeraldConfig {
  env: 'development' | 'production' | 'test';
  databaseUrl: string | undefined;
  /** Project-local folder for the embedded database and other local state. */
  dataDir: string;
  /** The embedded PostgreSQL's port on 127.0.0.1; undefined: a free port at each start. */
  embeddedPostgresPort: number | undefined;
  /** How long start-up waits for an unreachable database (restarting, not yet up) before giving up. */
  databaseStartupWaitMs: number;
  host: string;
  port: number;
  logLevel: string;
  logPretty: boolean;
  graphiql: boolean;
  introspection: boolean;
  worker: {
    concurrency: number;
    pollIntervalMs: number;
    /** How often a worker process proves it is alive and sweeps up after dead ones. */
    heartbeatIntervalMs: number;
    /** A worker silent this long is dead: its jobs are unlocked and re-attempted. */
    deadAfterMs: number;
    /** graphile-worker 0.17 local queue: jobs fetched per query and held in memory (0: off, one fetch per job). */
    localQueueSize: number;
    /** `herald start` runs its worker on a thread of its own (a second core), not on the API's event loop. */
    thread: boolean;
    /**
     * With the worker on its thread, the API thread's niceness (Linux): under CPU contention, delivering what
     * was accepted comes before accepting more. 0: both alike.
     */
    apiThreadNiceness: number;
    /** Batch job completions (and failures) written within this many ms into one statement (0: one per job). */
    completeBatchDelayMs: number;
    /** The retry lane: the size of a worker process's pool for retry attempts (attempt 2 and later). */
    retryConcurrency: number;
  };
  delivery: {
    timeoutMs: number;
    /** The global retry policy; an endpoint may have its own. */
    retry: RetryPolicy;
    /** The longest Retry-After honoured. */
    retryAfterMaxMs: number;
    responseBodyMaxBytes: number;
    /** Disable an endpoint after this many dead letters in a row (0: never). */
    disableAfterDeadLetters: number;
    /** Disable an endpoint failing without a success for this long (0: never). */
    disableAfterFailingMs: number;
    /** Deliveries in flight to one endpoint at once, across all workers, unless the endpoint sets its own. */
    endpointConcurrency: number;
    /** How long a throttling answer (429, 502, 503, 504) without Retry-After pauses its endpoint. */
    throttlePauseMs: number;
    /**
     * How long a delivery finding its endpoint full may wait in its worker for a slot that worker frees, before
     * parking (0: park at once). Only while the worker's deliveries to that endpoint hold their slots for less.
     */
    slotWaitMs: number;
  };
  replay: {
    /** Dead letters a replayDeadLetters run re-queues per second at most, across all workers. */
    ratePerSecond: number;
  };
  /** Herald's own `herald.*` events (docs/receiving.md): see OperatorEventsConfig. */
  operatorEvents: OperatorEventsConfig;
  retention: {
    /** Events (with their deliveries and attempts) older than this are purged; 0: kept forever. */
    maxAgeMs: number;
    batchSize: number;
  };
  maxPayloadBytes: number;
  /** How far ahead publishEvent's `deliverAt` may be (the database refuses more than 90 days). */
  maxDeliverAheadMs: number;
  shutdownGraceMs: number;
  /** How far V8 lets a heap grow past what its last full collection kept, in percent (0: V8's own factor, up to 4x). */
  heapGrowthPercent: number;
  /** Refuse to publish event types that are not in the catalog. */
  catalogStrict: boolean;
  /** HERALD_ENCRYPTION_KEY; without it (never in production) a key file in the data folder is used. */
  encryptionKey: Buffer | undefined;
  ssrf: {
    /** CIDRs deliveries may reach even though they are private, loopback, link-local... */
    allowCidrs: string[];
    /** Development with the embedded database: loopback receivers are allowed (with a warning). */
    allowLoopback: boolean;
  };
  /** Token bucket per API key and process; perMinute 0 turns it off. */
  rateLimit: { perMinute: number; burst: number };
  /** How long a verified API key is reused without a query (0: never); changes evict it at once. */
  apiKeyCacheTtlMs: number;
  graphqlLimits: { maxDepth: number; maxCost: number; maxDocumentBytes: number };
  /**
   * metricsUpdated: a push at least every pushIntervalMs, and no two closer than minPushGapMs. scrapeToken: when
   * set, /metrics answers only requests with `Authorization: Bearer <scrapeToken>`.
   */
  metrics: { pushIntervalMs: number; minPushGapMs: number; scrapeToken?: string };
  /**
   * The customer portal (/portal): the origins allowed to frame it (CSP frame-ancestors; empty: none), and Herald's
   * URL as customers reach it, for the session URLs createPortalSession returns (unset: a path relative to Herald).
   */
  portal: { frameAncestors: string[]; publicUrl: string | undefined };
}

export interface OperatorEventsConfig {
  /** The application that also receives every operator event, whichever application it concerns (null: none). */
  applicationId: string | null;
  /** An endpoint's operator events of one type closer than this to the last one sent are counted, not sent (0: all sent). */
  suppressionMs: number;
}

/** Without configuration (services built without it): no operator application, a 60 s window. */
export const DEFAULT_OPERATOR_EVENTS: OperatorEventsConfig = { applicationId: null, suppressionMs: 60_000 };

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
  if (e.NODE_ENV === 'production' && !e.HERALD_ENCRYPTION_KEY) {
    throw new ConfigError(
      'HERALD_ENCRYPTION_KEY is required when NODE_ENV=production: endpoint signing secrets are encrypted with it.\n' +
        'Generate one with `openssl rand -base64 32`, keep it in your secret store, and set it for every Herald process.',
    );
  }
  const config: HeraldConfig = {
    env: e.NODE_ENV,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.HERALD_DATA_DIR),
    embeddedPostgresPort: e.EMBEDDED_POSTGRES_PORT,
    databaseStartupWaitMs: e.DATABASE_STARTUP_WAIT_MS,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    logPretty: e.LOG_PRETTY ?? (e.NODE_ENV === 'development' && process.stdout.isTTY === true),
    graphiql: e.GRAPHIQL_ENABLED,
    introspection: e.INTROSPECTION_ENABLED,
    worker: {
      concurrency: e.WORKER_CONCURRENCY,
      pollIntervalMs: e.WORKER_POLL_INTERVAL_MS,
      heartbeatIntervalMs: e.WORKER_HEARTBEAT_INTERVAL_MS,
      deadAfterMs: e.WORKER_DEAD_AFTER_MS,
      localQueueSize: e.WORKER_LOCAL_QUEUE_SIZE,
      thread: e.WORKER_THREAD,
      apiThreadNiceness: e.API_THREAD_NICENESS,
      completeBatchDelayMs: e.WORKER_COMPLETE_BATCH_DELAY_MS,
      // At least one, so retries always move.
      retryConcurrency: Math.max(1, Math.floor(e.WORKER_CONCURRENCY * e.RETRY_CONCURRENCY_SHARE)),
    },
    delivery: {
      timeoutMs: e.DELIVERY_TIMEOUT_MS,
      retry: retryPolicyFromEnvironment(e),
      retryAfterMaxMs: e.DELIVERY_RETRY_AFTER_MAX_MS,
      responseBodyMaxBytes: e.DELIVERY_RESPONSE_BODY_MAX_BYTES,
      disableAfterDeadLetters: e.ENDPOINT_DISABLE_AFTER_DEAD_LETTERS,
      disableAfterFailingMs: e.ENDPOINT_DISABLE_AFTER_FAILING_MS,
      endpointConcurrency: e.ENDPOINT_MAX_CONCURRENCY,
      throttlePauseMs: e.ENDPOINT_THROTTLE_PAUSE_MS,
      slotWaitMs: e.ENDPOINT_SLOT_WAIT_MS,
    },
    replay: { ratePerSecond: e.REPLAY_RATE_PER_SECOND },
    operatorEvents: { applicationId: e.OPERATOR_APPLICATION_ID ?? null, suppressionMs: e.OPERATOR_EVENT_SUPPRESSION_MS },
    retention: { maxAgeMs: Math.round(e.RETENTION_MAX_AGE_DAYS * 86_400_000), batchSize: e.RETENTION_BATCH_SIZE },
    maxPayloadBytes: e.MAX_PAYLOAD_BYTES,
    maxDeliverAheadMs: Math.round(e.DELIVER_AT_MAX_AHEAD_DAYS * 86_400_000),
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    heapGrowthPercent: e.HEAP_GROWTH_PERCENT,
    catalogStrict: e.CATALOG_STRICT,
    encryptionKey: e.HERALD_ENCRYPTION_KEY ? parseEncryptionKey(e.HERALD_ENCRYPTION_KEY) : undefined,
    ssrf: { allowCidrs: e.SSRF_ALLOW_CIDRS, allowLoopback: e.NODE_ENV === 'development' && !e.DATABASE_URL },
    rateLimit: { perMinute: e.API_RATE_LIMIT_PER_MINUTE, burst: e.API_RATE_LIMIT_BURST },
    apiKeyCacheTtlMs: e.API_KEY_CACHE_TTL_MS,
    graphqlLimits: { maxDepth: e.GRAPHQL_MAX_DEPTH, maxCost: e.GRAPHQL_MAX_COST, maxDocumentBytes: e.GRAPHQL_MAX_DOCUMENT_BYTES },
    metrics: { pushIntervalMs: e.METRICS_PUSH_INTERVAL_MS, minPushGapMs: e.METRICS_MIN_PUSH_GAP_MS, scrapeToken: e.METRICS_TOKEN },
    portal: { frameAncestors: e.PORTAL_FRAME_ANCESTORS, publicUrl: e.PORTAL_PUBLIC_URL },
  };
  return { ...config, ...overrides };
}

/**
 * The preset named by DELIVERY_RETRY_POLICY, with any of its parts replaced: DELIVERY_RETRY_SCHEDULE (a
 * list of delays) or DELIVERY_BACKOFF_* (exponential), DELIVERY_MAX_ATTEMPTS, DELIVERY_MAX_AGE_MS (0: none).
 */
function retryPolicyFromEnvironment(e: z.infer<typeof environmentSchema>): RetryPolicy {
  const policy = retryPreset(e.DELIVERY_RETRY_POLICY);
  if (e.DELIVERY_RETRY_SCHEDULE !== undefined && e.DELIVERY_BACKOFF_BASE_MS !== undefined) {
    throw new ConfigError('Set either DELIVERY_RETRY_SCHEDULE (a list of delays) or DELIVERY_BACKOFF_BASE_MS (exponential), not both.');
  }
  if (e.DELIVERY_RETRY_SCHEDULE !== undefined) {
    const delaysMs = parseDurationList(e.DELIVERY_RETRY_SCHEDULE);
    if (!delaysMs) {
      throw new ConfigError(
        `DELIVERY_RETRY_SCHEDULE must be a comma-separated list of delays such as "5s,5m,30m,2h" (units ms, s, m, h, d); got "${e.DELIVERY_RETRY_SCHEDULE}".`,
      );
    }
    policy.schedule = { kind: 'delays', delaysMs };
    policy.maxAttempts = delaysMs.length + 1;
  }
  const exponential = policy.schedule.kind === 'exponential' ? policy.schedule : null;
  if (e.DELIVERY_BACKOFF_BASE_MS !== undefined || (exponential && (e.DELIVERY_BACKOFF_FACTOR ?? e.DELIVERY_BACKOFF_MAX_MS) !== undefined)) {
    policy.schedule = {
      kind: 'exponential',
      baseMs: e.DELIVERY_BACKOFF_BASE_MS ?? exponential?.baseMs ?? 2000,
      factor: e.DELIVERY_BACKOFF_FACTOR ?? exponential?.factor ?? 2,
      maxMs: e.DELIVERY_BACKOFF_MAX_MS ?? exponential?.maxMs ?? 86_400_000,
    };
  }
  if (e.DELIVERY_MAX_ATTEMPTS !== undefined) policy.maxAttempts = e.DELIVERY_MAX_ATTEMPTS;
  if (e.DELIVERY_MAX_AGE_MS !== undefined) policy.maxAgeMs = e.DELIVERY_MAX_AGE_MS === 0 ? null : e.DELIVERY_MAX_AGE_MS;
  policy.jitter = e.DELIVERY_BACKOFF_JITTER;
  const problem = retryPolicyProblem(policy);
  if (problem) throw new ConfigError(`Invalid retry policy from the environment: ${problem}. See .env.example.`);
  return policy;
}
