import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { type DocumentNode, print } from 'graphql';
import { TEST_ENCRYPTION_KEY, TEST_SSRF_ALLOW_CIDRS } from './herald';

const HERALD_BIN = path.resolve(__dirname, '../../dist/src/bin/herald.js');

export interface HeraldProcess {
  child: ChildProcess;
  output: string[];
  /** The API's base URL, once it logged that it listens (api and start only). */
  url: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first admin key, when this process created it (printed once to stdout on an empty database). */
  adminKey: Promise<string>;
  /** Resolves when a log line matching `pattern` has been written. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Runs the real `herald` CLI (the built dist/) as a child process, capturing its JSON log lines. */
export function spawnHerald(command: string, env: Record<string, string>, args: string[] = []): HeraldProcess {
  const child = spawn(process.execPath, [HERALD_BIN, command, ...args], {
    env: {
      ...process.env,
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      PORT: '0',
      HERALD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
      SSRF_ALLOW_CIDRS: TEST_SSRF_ALLOW_CIDRS,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const watchers: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      output.push(line);
      for (const watcher of [...watchers]) {
        if (watcher.pattern.test(line)) {
          watchers.splice(watchers.indexOf(watcher), 1);
          watcher.resolve(line);
        }
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (pattern: RegExp, timeoutMs = 90_000) => {
    const seen = output.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`herald ${command} did not log ${pattern} in ${timeoutMs} ms:\n${output.join('\n')}`)),
        timeoutMs,
      );
      watchers.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`herald ${command} exited before logging ${pattern}:\n${output.join('\n')}`));
      });
    });
  };
  const url = waitForLog(/Herald API listening/).then((line) => (JSON.parse(line) as { url: string }).url);
  url.catch(() => undefined);
  const adminKey = waitForLog(API_KEY).then((line) => API_KEY.exec(line)![0]);
  adminKey.catch(() => undefined);
  return { child, output, url, adminKey, exited, waitForLog };
}

const API_KEY = /hk_[0-9a-z]{8}_[A-Za-z0-9_-]{43}/;

/**
 * How a process ended, with the lines that say its shutdown was not clean: the deadline cut work short, or
 * something left open would have held the process after it stopped.
 */
export async function exitOf(process: HeraldProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; unclean: string[] }> {
  const { code, signal } = await process.exited;
  return { code, signal, unclean: process.output.filter((line) => /shutdown grace period over|handles left open/.test(line)) };
}

/** Runs `herald keys <args>` to completion; returns its exit code, stdout and stderr. */
export function runKeysCommand(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToEnd(process.execPath, [HERALD_BIN, 'keys', ...args], {
    env: { NODE_ENV: 'test', LOG_LEVEL: 'warn', HERALD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, ...env },
  });
}

/** An admin key made with the real CLI (`herald keys create`). */
export async function createKeyWithCli(env: Record<string, string>, name = 'test key'): Promise<string> {
  const result = await runKeysCommand(['create', '--name', name], env);
  if (result.code !== 0) throw new Error(`herald keys create failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim();
}

/** One GraphQL request over HTTP with an API key; fails on GraphQL errors. */
export async function graphqlRequest<T>(url: string, key: string, document: DocumentNode, variables: unknown): Promise<T> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const result = (await response.json()) as { data: T; errors?: unknown[] };
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data;
}

/** Runs a one-shot `herald` command (the built CLI) to completion: its exit code, stdout and stderr. */
export function runHerald(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToEnd(process.execPath, [HERALD_BIN, ...args], { env: { HERALD_URL: '', HERALD_API_KEY: '', ...env } });
}

/** Runs a program to completion (its environment is this process's, with `env` on top): exit code, stdout, stderr. */
export function runToEnd(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}
