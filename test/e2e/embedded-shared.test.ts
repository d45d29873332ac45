import { readFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { type HeraldProcess, exitOf, graphqlRequest, runKeysCommand, spawnHerald } from '../helpers/cli';
import { WebhookReceiver } from '../helpers/receiver';

/** The embedded PostgreSQL's server process, from its postmaster.pid. */
async function postmasterPid(dataDir: string): Promise<number> {
  return Number.parseInt((await readFile(path.join(dataDir, 'pgdata', 'postmaster.pid'), 'utf8')).split('\n')[0]!, 10);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A second Herald command beside a running `herald start` on the embedded PostgreSQL uses that server and never
 * stops it; a server whose Herald is gone is stopped by the next start; a `herald start` whose server dies exits 1.
 */
describe('the embedded PostgreSQL shared by Herald commands', () => {
  let dataDir: string;
  let receiver: WebhookReceiver;
  const started: HeraldProcess[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-shared-pg-'));
    receiver = await WebhookReceiver.start();
  });
  afterAll(async () => {
    for (const herald of started) herald.child.kill('SIGKILL');
    const pid = await postmasterPid(dataDir).catch(() => 0);
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    await receiver?.close();
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  const env = () => ({ DATABASE_URL: '', HERALD_DATA_DIR: dataDir });
  const start = () => {
    const herald = spawnHerald('start', env());
    started.push(herald);
    return herald;
  };

  it('`keys create` and `keys list` beside a running `herald start` use its server: it keeps answering', { timeout: 180_000 }, async () => {
    const herald = start();
    const url = await herald.url;
    const adminKey = await herald.adminKey;
    const serverPid = await postmasterPid(dataDir);

    const created = await runKeysCommand(['create', '--name', 'second command'], env());
    expect(created.stderr).not.toMatch(/stopping a PostgreSQL/);
    expect(created.code).toBe(0);
    const newKey = created.stdout.trim();
    expect(newKey).toMatch(/^hk_/);
    const listed = await runKeysCommand(['list'], env());
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain('second command');

    // The same server, still running, and the API answers with the key the second command made.
    expect(await postmasterPid(dataDir)).toBe(serverPid);
    expect(alive(serverPid)).toBe(true);
    await graphqlRequest(url, newKey, RegisterEndpointDocument, { input: { url: receiver.url } });
    await graphqlRequest(url, adminKey, PublishEventDocument, { input: { type: 'order.created', data: { orderId: 'S-1' } } });
    await receiver.waitForRequests(1, 60_000);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    herald.child.kill('SIGTERM');
    expect(await exitOf(herald)).toEqual({ code: 0, signal: null, unclean: [] });
    expect(alive(serverPid)).toBe(false);
  });

  it('a `herald start` whose embedded PostgreSQL is killed says so in one line and exits 1', { timeout: 180_000 }, async () => {
    const herald = start();
    await herald.url;
    process.kill(await postmasterPid(dataDir), 'SIGKILL');
    const { code } = await herald.exited;
    expect(code).toBe(1);
    const lines = herald.output.filter((line) => line.includes('embedded PostgreSQL stopped unexpectedly'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, detail: 'killed by SIGKILL' });
  });

  it('a server left by a killed Herald is stopped by the next start, which runs its own', { timeout: 180_000 }, async () => {
    const first = start();
    await first.url;
    const orphan = await postmasterPid(dataDir);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(alive(orphan)).toBe(true);

    const second = start();
    const url = await second.url;
    expect(second.output.join('\n')).toMatch(/stopping a PostgreSQL left running by an earlier Herald/);
    expect(alive(orphan)).toBe(false);
    expect(await postmasterPid(dataDir)).not.toBe(orphan);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await exitOf(second)).toEqual({ code: 0, signal: null, unclean: [] });
  });

  it(
    'a `herald worker` using the server of a `herald start` stops with one line (exit 1) when that Herald stops it',
    { timeout: 180_000 },
    async () => {
      const owner = start();
      await owner.url;
      const worker = spawnHerald('worker', env());
      started.push(worker);
      await worker.waitForLog(/using the embedded PostgreSQL of the Herald already running here/);
      await worker.waitForLog(/worker started/);
      owner.child.kill('SIGTERM');
      expect(await exitOf(owner)).toEqual({ code: 0, signal: null, unclean: [] });
      const { code } = await worker.exited;
      expect(code).toBe(1);
      const lines = worker.output.filter((line) => line.includes('embedded PostgreSQL stopped unexpectedly'));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, detail: 'stopped by the Herald that started it' });
    },
  );
});
