import 'reflect-metadata';
import type express from 'express';
import type { HeraldConfig } from './config';
import { loadSecretBox } from './config/encryption-key';
import type { DeliveryNetwork } from './delivery/http-client';
import { type Database, migrate, openDatabase } from './db/database';
import { type Clock, systemClock } from './lib/clock';
import type { Logger } from './lib/logger';
import type { ChangeFeed } from './graphql/change-feed';
import type { HttpServerHandle } from './graphql/server';
import { ApiKeyService } from './modules/api-keys/api-key.service';
import { type WorkerHandle, startWorker } from './worker/runner';
import { startWorkerThread, yieldToWorkerThread } from './worker/worker-thread';

export interface HeraldRoles {
  api: boolean;
  worker: boolean;
}

export interface HeraldHandle {
  /** http://host:port of the API, when this process serves it. */
  url: string | null;
  database: Database;
  stop(): Promise<void>;
}

/**
 * Starts Herald in this process: the database (embedded unless DATABASE_URL is set), migrations, and
 * the API and/or the worker. `stop()` drains in order: HTTP and subscriptions, in-flight deliveries, the
 * change feed, the database.
 */
export async function startHerald(options: {
  config: HeraldConfig;
  logger: Logger;
  roles: HeraldRoles;
  clock?: Clock;
  /** Tests inject DNS and a dialler for deliveries. */
  network?: DeliveryNetwork;
  /**
   * With both roles, run the worker on a thread of its own (`herald start`, WORKER_THREAD). Not with an injected
   * network: a thread cannot share it.
   */
  workerThread?: boolean;
  /**
   * Receives the first admin key when this start created it (empty database). Default: printed once to
   * stdout, never through the logger (whose lines may be shipped elsewhere).
   */
  announceAdminKey?: (key: string) => void;
}): Promise<HeraldHandle> {
  const { config, logger, roles } = options;
  const clock = options.clock ?? systemClock;
  const secrets = loadSecretBox(config, logger);
  if (config.ssrf.allowLoopback) {
    // What the defaults mean, not a problem: said once, at info.
    logger.info('development mode (embedded database): deliveries to loopback addresses are allowed; production blocks them');
  }
  let stopAll: (() => Promise<void>) | null = null;
  const database = await openDatabase(config, logger, {
    // A Herald whose own database is gone would answer every request with an error: it stops instead (exit 1), and
    // its supervisor starts it, and the database, again.
    onEmbeddedExit: (detail) => {
      logger.error({ detail }, 'the embedded PostgreSQL stopped unexpectedly; Herald stops');
      process.exitCode = 1;
      setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000).unref();
      void (stopAll?.() ?? Promise.resolve()).finally(() => process.exit(1));
    },
  });
  let http: HttpServerHandle | null = null;
  let worker: WorkerHandle | null = null;
  let feed: ChangeFeed | null = null;
  const stop = async () => {
    await http?.close().catch((error: unknown) => logger.warn({ err: error }, 'HTTP server did not close cleanly'));
    await worker?.stop().catch((error: unknown) => logger.warn({ err: error }, 'worker did not stop cleanly'));
    await feed?.stop();
    await database.close();
  };
  stopAll = stop;
  try {
    await migrate(database, logger);
    const adminKey = await new ApiKeyService(database.orm.em.fork()).bootstrapAdminKey();
    if (adminKey) (options.announceAdminKey ?? printAdminKey)(adminKey);
    if (roles.worker && options.workerThread && roles.api && !options.network) {
      worker = await startWorkerThread({
        data: { databaseUrl: database.url, allowLoopback: config.ssrf.allowLoopback },
        logger,
        onDeath: (reason) => {
          // A Herald that takes publishes but can no longer deliver them must not stay up: stop, and let the
          // supervisor start it again.
          logger.error({ reason }, 'the worker thread died; Herald stops');
          process.exitCode = 1;
          void stop().finally(() => process.exit(1));
        },
      });
      yieldToWorkerThread(config.worker.apiThreadNiceness, logger);
    } else if (roles.worker) {
      worker = await startWorker({ orm: database.orm, pool: database.pool, config, clock, logger, secrets, network: options.network });
    }
    if (roles.api) {
      // Loaded only to serve the API: a worker (a `herald worker` process, or `herald start`'s worker thread)
      // never loads the GraphQL server, its schema or the metrics registry.
      const [
        { ChangeFeed },
        { VerifiedKeyCache },
        { createHeraldPubSub },
        { buildHeraldSchema },
        { startHttpServer },
        { HeraldPrometheus, scrapeAllowed },
        { checkReadiness },
      ] = await Promise.all([
        import('./graphql/change-feed.js'),
        import('./modules/api-keys/verified-key-cache.js'),
        import('./graphql/pubsub.js'),
        import('./graphql/schema.js'),
        import('./graphql/server.js'),
        import('./observability/prometheus.js'),
        import('./observability/readiness.js'),
      ]);
      const pubSub = createHeraldPubSub();
      const verifiedKeys = new VerifiedKeyCache(config.apiKeyCacheTtlMs);
      feed = new ChangeFeed(database.url, pubSub, logger, verifiedKeys);
      await feed.start();
      const schema = await buildHeraldSchema(pubSub);
      const prometheus = new HeraldPrometheus(database.pool);
      const runningWorker = worker;
      const probes = (app: express.Express) => {
        app.get('/healthz', (_req, res) => {
          res.json({ status: 'ok' });
        });
        app.get('/readyz', async (_req, res) => {
          const report = await checkReadiness(database.pool, runningWorker);
          res.status(report.ready ? 200 : 503).json({ status: report.ready ? 'ready' : 'unavailable', checks: report.checks });
        });
        app.get('/metrics', async (req, res) => {
          if (!scrapeAllowed(req.headers.authorization, config.metrics.scrapeToken)) {
            res
              .status(401)
              .set('www-authenticate', 'Bearer realm="herald-metrics"')
              .type('text/plain')
              .send('# /metrics needs "Authorization: Bearer <METRICS_TOKEN>" (this Herald sets METRICS_TOKEN).\n');
            return;
          }
          try {
            const text = await prometheus.render();
            res.type(prometheus.contentType).send(text);
          } catch (error) {
            logger.warn({ err: error }, 'metrics scrape failed');
            res
              .status(503)
              .type('text/plain')
              .send(`# metrics unavailable: ${error instanceof Error ? error.message : String(error)}\n`);
          }
        });
      };
      http = await startHttpServer({ schema, pubSub, orm: database.orm, config, logger, probes, secrets, verifiedKeys });
      logger.info({ url: http.url, graphiql: config.graphiql ? `${http.url}/graphiql` : undefined }, 'Herald API listening');
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: http?.url ?? null, database, stop };
}

/** The first admin key, boxed on stdout so it is hard to miss and is shown exactly once. */
export function printAdminKey(key: string): void {
  const lines = [
    'Herald created the first admin API key. It is shown only this once: store it now.',
    '',
    `  ${key}`,
    '',
    'Send it as "Authorization: Bearer <key>" (GraphiQL: Headers tab).',
    'The CLI (npx herald <command>, in the project folder) reads it from HERALD_API_KEY or --api-key.',
    'More keys: npx herald keys create --name <name>',
  ];
  const width = Math.max(...lines.map((line) => line.length));
  const border = `+${'-'.repeat(width + 2)}+`;
  process.stdout.write(`${[border, ...lines.map((line) => `| ${line.padEnd(width)} |`), border].join('\n')}\n`);
}
