import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export const HERALD_BIN = path.resolve(__dirname, '../../src/bin/herald.js');

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts a Node.js child process, keeps its last output lines (for error messages and key detection). */
export function startProcess(name: string, args: string[], env: Record<string, string>): ManagedProcess {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      output.push(line);
      if (output.length > 500) output.splice(0, output.length - 500);
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(30_000).then(() => false)]);
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { name, child, output, exited, stop };
}

export async function waitForHealthy(baseUrl: string, proc: ManagedProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited with code ${proc.child.exitCode}:\n${proc.output.slice(-20).join('\n')}`);
    }
    try {
      const response = await request(`${baseUrl}/healthz`);
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${proc.name} did not answer ${baseUrl}/healthz within ${timeoutMs} ms:\n${proc.output.slice(-20).join('\n')}`);
}

const KEY_FIELD = /^(admin)?_?api_?key$|^admin_?key$|^key$|^token$/i;
const KEY_IN_TEXT = /(?:api|admin)[ _-]?key\b[^A-Za-z0-9]*([A-Za-z0-9][A-Za-z0-9_.-]{15,})/i;
/** Herald's own key format (`hk_<prefix>_<secret>`), printed alone on a line inside the first-start box. */
const HERALD_KEY = /\b(hk_[0-9a-z]{8}_[A-Za-z0-9_-]{20,})/;

/**
 * Finds an API key in one line of Herald's output: a JSON log field such as `apiKey`/`adminKey`, or text
 * like "admin API key: hk_...". Herald prints its admin key once, on the first start with an empty database.
 */
export function detectApiKey(line: string): string | null {
  const trimmed = line.trim();
  const heraldKey = HERALD_KEY.exec(trimmed)?.[1];
  if (heraldKey) return heraldKey;
  if (trimmed.startsWith('{')) {
    try {
      const found = findKeyField(JSON.parse(trimmed) as unknown);
      if (found) return found;
    } catch {
      // not JSON after all
    }
  }
  return KEY_IN_TEXT.exec(trimmed)?.[1] ?? null;
}

function findKeyField(value: unknown): string | null {
  if (!value || typeof value !== 'object') return null;
  for (const [name, field] of Object.entries(value as Record<string, unknown>)) {
    if (typeof field === 'string' && KEY_FIELD.test(name) && /^[A-Za-z0-9_.-]{16,}$/.test(field)) return field;
    if (typeof field === 'object') {
      const nested = findKeyField(field);
      if (nested) return nested;
    }
  }
  const message = (value as { msg?: unknown }).msg;
  return typeof message === 'string' ? (KEY_IN_TEXT.exec(message)?.[1] ?? null) : null;
}

/**
 * Extra node flags for Herald's processes only, from HERALD_BENCH_NODE_ARGS: for example
 * `--cpu-prof --cpu-prof-dir=/tmp/herald-prof` profiles Herald during a run (flags NODE_OPTIONS refuses).
 */
function heraldArgs(command: string, bin: string): string[] {
  const extra = (process.env.HERALD_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...extra, bin, command];
}

export type HeraldTopology = { kind: 'start' } | { kind: 'split'; workers: number };

export interface HeraldCluster {
  url: string;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

/** The environment every Herald process of the benchmark runs with. */
function heraldEnvironment(databaseUrl: string, port: number, logLevel: string): Record<string, string> {
  return {
    NODE_ENV: process.env.NODE_ENV ?? 'development',
    DATABASE_URL: databaseUrl,
    // The benchmark's receivers are on loopback, which the SSRF guard refuses unless allowed explicitly.
    SSRF_ALLOW_CIDRS: '127.0.0.0/8,::1/128',
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: logLevel,
    LOG_PRETTY: 'false',
  };
}

/**
 * Runs Herald from the built CLI against `databaseUrl`: one `herald start`, or one `herald api` and N
 * `herald worker` processes. Logging stays at `logLevel` (per-delivery info lines are real work; the
 * bench reports which level it used).
 */
export async function startHerald(options: {
  databaseUrl: string;
  port: number;
  topology: HeraldTopology;
  logLevel: string;
  env?: Record<string, string>;
  /** The CLI to run (another build's, to compare with): this build's by default. */
  bin?: string;
}): Promise<HeraldCluster> {
  const bin = options.bin ?? HERALD_BIN;
  const env = { ...heraldEnvironment(options.databaseUrl, options.port, options.logLevel), ...options.env };
  const processes: ManagedProcess[] = [];
  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    // API first (no new publishes), then the workers.
    for (const member of processes) await member.stop();
  };
  try {
    if (options.topology.kind === 'start') {
      processes.push(startProcess('herald start', heraldArgs('start', bin), env));
      await waitForHealthy(url, processes[0]!);
    } else {
      processes.push(startProcess('herald api', heraldArgs('api', bin), env));
      await waitForHealthy(url, processes[0]!);
      for (let i = 0; i < options.topology.workers; i++) {
        const worker = startProcess(`herald worker ${i + 1}`, heraldArgs('worker', bin), env);
        processes.push(worker);
        // A worker has no HTTP probe (and at LOG_LEVEL=warn says nothing): give it time to connect; the
        // warm-up phase absorbs the rest.
        await sleep(2000);
        if (worker.child.exitCode !== null) throw new Error(`${worker.name} exited:\n${worker.output.slice(-20).join('\n')}`);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, processes, stop };
}

/**
 * The API key to send: HERALD_BENCH_API_KEY when set, otherwise the admin key a fresh Herald prints on its
 * first start (looked for in the output of a short `herald api` run at info level), otherwise none.
 */
export async function resolveApiKey(options: {
  databaseUrl: string;
  port: number;
  fromEnvironment: string | undefined;
  bin?: string;
}): Promise<{
  key: string | null;
  source: 'HERALD_BENCH_API_KEY' | 'first-start output' | 'none';
}> {
  if (options.fromEnvironment) return { key: options.fromEnvironment, source: 'HERALD_BENCH_API_KEY' };
  const env = heraldEnvironment(options.databaseUrl, options.port, 'info');
  const api = startProcess('herald api (first start)', [options.bin ?? HERALD_BIN, 'api'], env);
  try {
    await waitForHealthy(`http://127.0.0.1:${options.port}`, api);
    await sleep(200);
  } finally {
    await api.stop();
  }
  for (const line of api.output) {
    const key = detectApiKey(line);
    if (key) return { key, source: 'first-start output' };
  }
  return { key: null, source: 'none' };
}
