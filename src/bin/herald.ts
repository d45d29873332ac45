#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { CLIENT_COMMANDS, CLIENT_USAGE } from '../cli/client-usage';
import { DB_USAGE } from '../cli/db-command';
import { ConfigError, loadConfig } from '../config';
import type { HeraldRoles } from '../herald';

const USAGE = `Usage: npx herald <command>   (from the project folder; npm run herald -- <command> also works)

Commands:
  start     API and worker in one process (the default)
  api       the GraphQL API only (HTTP, graphql-ws, GraphiQL)
  worker    the delivery worker only
  migrate   apply Herald's and graphile-worker's migrations, then exit
  keys      manage API keys:
              keys create --name <name> [--application <app_id>] [--expires-in <days>d|<hours>h]
              keys list [--json]
              keys revoke <key_id or hk_ prefix>
${DB_USAGE}
  help      this text

${CLIENT_USAGE}

Configuration comes from the environment; see .env.example.
With DATABASE_URL unset Herald starts an embedded PostgreSQL kept in HERALD_DATA_DIR (.herald).`;

const ROLES: Record<string, HeraldRoles> = {
  start: { api: true, worker: true },
  api: { api: true, worker: false },
  worker: { api: false, worker: true },
};

async function main(argv: string[]): Promise<number> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return 0;
  }
  if ((CLIENT_COMMANDS as readonly string[]).includes(command)) {
    const { runClientCommand } = await import('../cli/client-commands.js');
    return runClientCommand(command, argv.slice(1));
  }
  if (command !== 'migrate' && command !== 'keys' && command !== 'db' && !ROLES[command]) {
    console.error(`Unknown command "${command}".\n\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  if (command === 'db') {
    const { runDbCommand } = await import('../cli/db-command.js');
    return runDbCommand(config, argv.slice(1), { out: console.log, err: console.error });
  }
  const youngGenerationHeld = ROLES[command] ? holdYoungGeneration() : null;
  // Server modules load only for server commands, so the developer commands start quickly.
  await import('reflect-metadata');
  const { createLogger, logUnhandledRejections } = await import('../lib/logger.js');
  const { migrate, openDatabase } = await import('../db/database.js');
  const { startHerald } = await import('../herald.js');
  const { runKeysCommand } = await import('./keys-command.js');
  // `keys` prints a key on stdout for scripts to capture: its log lines go to stderr.
  const logger =
    command === 'keys'
      ? createLogger({ level: config.logLevel, pretty: false, destination: process.stderr })
      : createLogger({ level: config.logLevel, pretty: config.logPretty });
  logUnhandledRejections(logger);

  if (command === 'keys') {
    const database = await openDatabase(config, logger);
    try {
      await migrate(database, logger);
      return await runKeysCommand(database.orm.em.fork(), argv.slice(1), { out: console.log, err: console.error });
    } finally {
      await database.close();
    }
  }

  if (command === 'migrate') {
    const database = await openDatabase(config, logger);
    try {
      const applied = await migrate(database, logger);
      logger.info({ applied: applied.length }, applied.length ? 'migrations applied' : 'database already up to date');
    } finally {
      await database.close();
    }
    return 0;
  }

  const herald = await startHerald({ config, logger, roles: ROLES[command]!, workerThread: config.worker.thread });
  youngGenerationHeld?.release();
  if (herald.url) {
    logger.info(`GraphQL: ${herald.url}/graphql  GraphiQL: ${herald.url}/graphiql`);
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight work');
      const deadline = setTimeout(() => {
        logger.error('shutdown grace period over; exiting with work still in flight (it will be retried)');
        process.exit(1);
      }, config.shutdownGraceMs + 5000);
      deadline.unref();
      void herald.stop().then(resolve, (error: unknown) => {
        logger.error({ err: error }, 'error while shutting down');
        resolve();
      });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
  logger.info('stopped');
  // Everything Herald started has stopped. A timer or socket some library left open must not hold the process until
  // the shutdown deadline, which exits 1 as if work had been cut short: it is named, and the process exits.
  setTimeout(() => {
    logger.warn({ resources: process.getActiveResourcesInfo() }, 'stopped, but handles left open would keep the process alive; exiting');
    process.exit(0);
  }, 2000).unref();
  return 0;
}

/**
 * Start-up allocates in one burst (the modules, the GraphQL schema, the ORM's metadata), and V8 answers by growing the
 * young generation to its maximum, two 16 MB semi-spaces, which it then keeps, empty, while the process idles: about
 * 27 MB of an idle `herald start`'s RSS. Its growth is held (growth factor 1: it stays at its initial 1 MB) until
 * Herald has started, then V8's default factor (2) applies again, so under load it grows as before. V8 reads this flag
 * each time it resizes the young generation, so setting it at run time takes effect. Left alone when node was given
 * a semi-space flag on the command line.
 */
function holdYoungGeneration(): { release(): void } | null {
  if (process.execArgv.some((flag) => /semi[-_]space/.test(flag))) return null;
  setFlagsFromString('--semi-space-growth-factor=1');
  return { release: () => setFlagsFromString('--semi-space-growth-factor=2') };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('Herald failed to start:', error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
