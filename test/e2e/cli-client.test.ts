import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateApplicationDocument,
  DisableEndpointDocument,
  PublishEventDocument,
  RegisterEndpointDocument,
} from '../../src/sdk/generated/graphql';
import { runHerald, runKeysCommand, runToEnd } from '../helpers/cli';
import { createTestDatabase, query } from '../helpers/database';
import { type TestHerald, startTestHerald, testConfig, waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const ROOT = path.resolve(__dirname, '../..');

/** Runs a command from the project folder (npm, npx) to completion. */
function runInProject(command: string, args: string[], env: Record<string, string>) {
  return runToEnd(command, args, { cwd: ROOT, env: { HERALD_URL: '', HERALD_API_KEY: '', ...env } });
}

/** Pids of the running `herald listen` processes that forward to this URL (from /proc: this runs on Linux). */
async function listenersForwardingTo(url: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    // npm runs dist/src/bin/herald.js; npx the bin link .../node_modules/.bin/herald (through its shebang).
    if (args.some((arg) => /(^|\/)herald(\.js)?$/.test(arg)) && args.includes('listen') && args.includes(url)) found.push(Number(entry));
  }
  return found;
}

describe('developer CLI from the project folder: npx herald, keys, API keys, replay notes, listen under npm', { timeout: 180_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let herald: TestHerald;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;
  let disabledEndpointId: string;
  const spawned: ChildProcess[] = [];
  const leftListeners: number[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const base = testConfig(database.url).delivery;
    herald = await startTestHerald(database.url, {
      config: { delivery: { ...base, retry: { ...base.retry, maxAttempts: 1 }, disableAfterDeadLetters: 0 } },
    });
    receiver = await WebhookReceiver.start(() => ({ status: 503, body: 'busy' }));
    const applicationId = (await herald.call(CreateApplicationDocument, { input: { name: 'cli client' } })).createApplication.id;
    const register = async (eventTypes: string[]) =>
      (await herald.call(RegisterEndpointDocument, { input: { applicationId, url: receiver.url, eventTypes } })).registerEndpoint.endpoint
        .id;
    disabledEndpointId = await register(['billing.*']);
    await register(['audit.*']);
    for (let i = 0; i < 2; i++) await herald.call(PublishEventDocument, { input: { applicationId, type: 'billing.failed', data: { i } } });
    await herald.call(PublishEventDocument, { input: { applicationId, type: 'audit.logged', data: {} } });
    await waitUntil(
      () => query<{ n: number }>(database.url, `select count(*)::int as n from deliveries where status = 'DEAD'`),
      (rows) => rows[0]!.n === 3,
    );
    await herald.call(DisableEndpointDocument, { id: disabledEndpointId, reason: 'receiver retired' });
    env = { HERALD_URL: herald.url, HERALD_API_KEY: herald.adminKey };
  });
  afterAll(async () => {
    for (const child of spawned) child.kill('SIGKILL');
    for (const pid of leftListeners) process.kill(pid, 'SIGKILL');
    await herald?.stop();
    await receiver?.close();
    await database?.drop();
  });

  it('`npx herald <client command>` runs the project’s own CLI, whose help says npx herald and where the URL and key come from', async () => {
    // --offline: npx must find the project's bin; it may never ask the registry for a package named herald.
    const events = await runInProject('npx', ['--offline', 'herald', 'event-types', '--json'], env);
    expect(events.stderr).toBe('');
    expect(events.code).toBe(0);
    expect((JSON.parse(events.stdout) as Array<{ name: string }>).map((type) => type.name)).toContain('invoice.issued');

    const help = await runInProject('npx', ['--offline', 'herald', 'help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('npx herald <command>');
    expect(help.stdout).toMatch(/--url or HERALD_URL \(default http:\/\/127\.0\.0\.1:4000\)/);
    expect(help.stdout).toMatch(/--api-key or HERALD_API_KEY/);
    expect(help.stdout).toContain('npx herald keys create --name <name>');
  });

  it('without an API key a client command says --api-key, HERALD_API_KEY and how to make a key (exit 2); a refused key says so too', async () => {
    for (const args of [['events'], ['replay', '--dry-run'], ['listen', '--forward-to', receiver.url], ['trigger', 'order.created']]) {
      const result = await runHerald(args, { HERALD_URL: herald.url });
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('--api-key');
      expect(result.stderr).toContain('HERALD_API_KEY');
      expect(result.stderr).toContain('npx herald keys create --name <name>');
    }
    const unknown = await runHerald(['events', '--api-key', `hk_abcdefgh_${'A'.repeat(43)}`], { HERALD_URL: herald.url });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/Herald refused the API key: The API key is not valid.*\(UNAUTHENTICATED\)/);
    expect(unknown.stderr).toMatch(/--api-key or HERALD_API_KEY; make a new one with `npx herald keys create --name <name>`/);
    // listen is refused on its WebSocket, not in a GraphQL answer.
    const refusedListen = await runHerald(['listen', '--forward-to', receiver.url, '--api-key', `hk_abcdefgh_${'A'.repeat(43)}`], {
      HERALD_URL: herald.url,
    });
    expect(refusedListen.code).toBe(1);
    expect(refusedListen.stderr).toMatch(/Unauthorized/);
    expect(refusedListen.stderr).toMatch(/--api-key or HERALD_API_KEY; make a new one with `npx herald keys create --name <name>`/);
  });

  it('`keys list --json` prints the keys as a JSON array, without their secrets', async () => {
    const keysEnv = { DATABASE_URL: database.url };
    const created = await runKeysCommand(['create', '--name', 'ci job'], keysEnv);
    expect(created.code).toBe(0);
    const secret = created.stdout.trim();
    const revoked = await runKeysCommand(['revoke', secret.slice(0, 11)], keysEnv);
    expect(revoked.code).toBe(0);

    const listed = await runKeysCommand(['list', '--json'], keysEnv);
    expect(listed.code).toBe(0);
    const keys = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(keys.length).toBeGreaterThanOrEqual(2);
    const ci = keys.find((key) => key.name === 'ci job');
    expect(ci).toMatchObject({ prefix: secret.slice(0, 11), kind: 'ADMIN', applicationId: null, state: 'revoked', expiresAt: null });
    expect(ci!.id).toMatch(/^key_/);
    expect(Date.parse(ci!.revokedAt as string)).not.toBeNaN();
    expect(keys.find((key) => key.name === 'initial admin key') ?? keys.find((key) => key.state === 'active')).toBeTruthy();
    expect(listed.stdout).not.toContain(secret);
    expect(listed.stdout).not.toContain(herald.adminKey);
    expect(listed.stdout).not.toMatch(/hash/i);

    const table = await runKeysCommand(['list'], keysEnv);
    expect(table.stdout.split('\n')[0]).toBe('ID\tPREFIX\tKIND\tAPPLICATION\tSTATE\tNAME');
    expect(table.stdout).toMatch(new RegExp(`${ci!.id as string}\\t${secret.slice(0, 11)}\\tADMIN\\t-\\trevoked \\S+Z\\tci job`));
    const bad = await runKeysCommand(['list', '--yaml'], keysEnv);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Unknown option '--yaml'/);
  });

  it('`replay` says when the matching dead letters belong to disabled endpoints, which it skips', async () => {
    const dry = await runHerald(['replay', '--event-type', 'billing.failed', '--dry-run'], env);
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout.trim().split('\n')).toEqual([
      '0 dead letter(s) match; nothing was replayed (dry run).',
      `2 dead letter(s) match the filter but belong to disabled endpoints (${disabledEndpointId}), which a replay skips: enable them ` +
        `first with the enableEndpoint mutation (mutation { enableEndpoint(id: "${disabledEndpointId}") { id enabled } }), then run the replay again.`,
    ]);

    // --json keeps stdout the replay's JSON; the note goes to stderr.
    const json = await runHerald(['replay', '--event-type', 'billing.failed', '--dry-run', '--json'], env);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'DRY_RUN', matched: 0 });
    expect(json.stderr).toMatch(/^2 dead letter\(s\) match the filter but belong to disabled endpoints/);

    // Without a filter the enabled endpoint's dead letter matches and the others are "other" ones.
    const all = await runHerald(['replay', '--dry-run'], env);
    expect(all.stdout).toContain('1 dead letter(s) match; nothing was replayed (dry run).');
    expect(all.stdout).toContain(`2 other dead letter(s) match the filter but belong to disabled endpoints (${disabledEndpointId})`);

    // The rest of the filter applies to the count: no note when none of them match.
    for (const args of [
      ['--event-type', 'audit.logged'],
      ['--event-type', 'billing.failed', '--error-kind', 'timeout'],
      ['--event-type', 'billing.failed', '--until', '2020-01-01T00:00:00Z'],
    ]) {
      const none = await runHerald(['replay', ...args, '--dry-run'], env);
      expect(none.stdout.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }

    const real = await runHerald(['replay', '--event-type', 'billing.failed'], env);
    expect(real.code).toBe(0);
    const lines = real.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^Replay rpl_[0-9a-z]+: 0 dead letter\(s\) matched\.$/);
    expect(lines[1]).toMatch(/^2 dead letter\(s\) match the filter but belong to disabled endpoints/);
    expect(lines.at(-1)).toMatch(/completed: 0 of 0 dead letter\(s\) re-queued\.$/);
  });

  it.each([
    ['npm run herald -- listen', 'npm', ['run', 'herald', '--', 'listen']],
    ['npx herald listen', 'npx', ['--offline', 'herald', 'listen']],
  ])('SIGTERM to `%s` stops the listener, not only npm', async (_name, command, args) => {
    // A URL of its own, to tell this listener's process from any other.
    const forwardTo = `${receiver.url}?via=${command}`;
    const npm = spawn(command, [...args, '--forward-to', forwardTo], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    spawned.push(npm);
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const npmExited = new Promise((resolve) => npm.on('exit', resolve));
    // npm runs scripts/ensure-built.cjs first, which rebuilds when a source is newer than dist/.
    await waitUntil(
      async () => output,
      (text) => text.includes('Ready. Forwarding'),
      150_000,
    );
    const running = await listenersForwardingTo(forwardTo);
    expect(running, output).toHaveLength(1);

    npm.kill('SIGTERM');
    await npmExited;
    const left = await waitUntil(
      () => listenersForwardingTo(forwardTo),
      (listeners) => listeners.length === 0,
      5000,
      100,
    ).catch(() => listenersForwardingTo(forwardTo));
    leftListeners.push(...left);
    expect(left, `still running after npm exited:\n${output}`).toEqual([]);
  });
});
