#!/usr/bin/env node
import { CLIENT_COMMANDS, CLIENT_USAGE } from '../cli/client-usage';
import { DB_USAGE } from '../cli/db-command';
import { ConfigError, loadConfig } from '../config';
import { limitHeapGrowth } from '../lib/heap-growth';
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
  if (ROLES[command]) limitHeapGrowth(config.heapGrowthPercent);
  // Server modules load only for server commands, so the developer commands start quickly.
  await import('reflect-metadata');
  const { createLogger } = await import('../lib/logger.js');
  const { handleUnhandledRejections } = await import('../db/unhandled-rejections.js');
  const { migrate, openDatabase } = await import('../db/database.js');
  const { startHerald } = await import('../herald.js');
  const { runKeysCommand } = await import('./keys-command.js');
  // `keys` prints a key on stdout for scripts to capture: its log lines go to stderr.
  const logger =
    command === 'keys'
      ? createLogger({ level: config.logLevel, pretty: false, destination: process.stderr })
      : createLogger({ level: config.logLevel, pretty: config.logPretty });
  // Until Herald runs there is nothing to drain: a bug stops the process once start-up (or the command) returns,
  // or at the deadline if it never does.
  handleUnhandledRejections(logger, () => {
    bugSeen = true;
    if (stopOnBug) stopOnBug();
    else setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000).unref();
  });

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
  if (herald.url) {
    logger.info(`GraphQL: ${herald.url}/graphql  GraphiQL: ${herald.url}/graphiql`);
  }
  await new Promise<void>((resolve) => {
    let stopping = false;
    const shutdown = (cause: { signal: string } | { reason: string }) => {
      if (stopping) {
        if (!('signal' in cause)) return;
        logger.warn(cause, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ ...cause, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight work');
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
    process.on('SIGTERM', () => shutdown({ signal: 'SIGTERM' }));
    process.on('SIGINT', () => shutdown({ signal: 'SIGINT' }));
    stopOnBug = () => shutdown({ reason: 'unhandled rejection' });
    if (bugSeen) stopOnBug();
  });
  logger.info('stopped');
  // Everything Herald started has stopped. A timer or socket some library left open must not hold the process until
  // the shutdown deadline, which exits 1 as if work had been cut short: it is named, and the process exits.
  setTimeout(() => {
    logger.warn({ resources: process.getActiveResourcesInfo() }, 'stopped, but handles left open would keep the process alive; exiting');
    process.exit(bugSeen ? 1 : 0);
  }, 2000).unref();
  return 0;
}

/** Set by an unhandled rejection that is not a database outage: the process exits 1 whatever the command returns. */
let bugSeen = false;
/** Herald's graceful stop, once it runs. */
let stopOnBug: (() => void) | null = null;

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = bugSeen ? 1 : code;
  },
  (error: unknown) => {
    console.error('Herald failed to start:', error instanceof Error ? error.message : error);
    process.exitCode = 1;
  },
);
