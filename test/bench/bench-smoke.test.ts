import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';

const BENCH = path.resolve(__dirname, '../../dist/bench/run.js');

describe('npm run bench -- --smoke', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('publishes through a real Herald over HTTP and the ledger balances', { timeout: 240_000 }, async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'herald-bench-smoke-'));
    const out = path.join(dir, 'smoke.json');
    const output: string[] = [];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [BENCH, '--smoke', '--arrival', 'fixed', '--wal-by-table', '--out', out], {
        // The test run's PostgreSQL instead of a second embedded one: the harness makes its own database in it.
        env: { ...process.env, HERALD_BENCH_DATABASE_URL: inject('pgAdminUrl') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.on('exit', resolve);
    });
    expect(code, output.join('')).toBe(0);
    expect(output.join('')).toMatch(/\| herald-smoke\s+\| 2\s+\|/);

    const results = JSON.parse(await readFile(out, 'utf8')) as {
      void: boolean;
      postgres: { source: string; version: string | null; cflags: string | null };
      herald: {
        scenarios: Array<{
          spec: { fanout: number };
          ledger: { publishedEvents: number; expected: number; received: number; missing: number; strays: number; balanced: boolean };
          latencyMs: { count: number; p50: number; p99: number } | null;
          processes: Array<{ name: string; userSeconds: number; peakRssBytes: number }>;
          costs: {
            deliveries: number;
            systemCpuMs: number;
            postgresCpuMs: number | null;
            walBytes: number;
            rowsWritten: number;
            transactions: number;
            walByTable: Record<string, { table: number; indexes: number }>;
          } | null;
        }>;
        idleRssBytes: Record<string, number>;
      };
      publish: Array<{
        mutation: string;
        eventsPerCall: number;
        calls: number;
        eventsPerSecond: number;
        stored: number;
        acknowledged: number;
        balanced: boolean;
      }>;
    };
    expect(results.void).toBe(false);
    // The server's build is recorded, since it decides much of PostgreSQL's CPU per delivery.
    expect(results.postgres.source).toBe('url');
    expect(results.postgres.version).toMatch(/^PostgreSQL \d+/);
    expect(output.join('')).toMatch(/PostgreSQL: HERALD_BENCH_DATABASE_URL \d+\.\d+ \(CFLAGS /);
    const [scenario] = results.herald.scenarios;
    // 40 events/s for 2.5 s (warm-up included), fixed arrivals: 100 events, 2 endpoints each.
    expect(scenario!.ledger).toEqual({
      publishedEvents: 100,
      expected: 200,
      received: 200,
      missing: 0,
      duplicates: 0,
      strays: 0,
      balanced: true,
    });
    expect(scenario!.latencyMs!.count).toBe(160);
    expect(scenario!.latencyMs!.p50).toBeGreaterThan(0);
    expect(scenario!.latencyMs!.p99).toBeGreaterThanOrEqual(scenario!.latencyMs!.p50);
    const herald = scenario!.processes.find((p) => p.name === 'herald start');
    expect(herald!.peakRssBytes).toBeGreaterThan(20 * 2 ** 20);
    expect(results.herald.idleRssBytes['herald start']).toBeGreaterThan(20 * 2 ** 20);
    // The whole scenario's costs per delivery. The test run's PostgreSQL serves other tests at the same time, so
    // only its own database's counters are exact: each delivery is at least its row written and updated, and its
    // job written and deleted, in at least one transaction for its publish and one for its attempt.
    expect(scenario!.costs!.deliveries).toBe(200);
    expect(scenario!.costs!.systemCpuMs).toBeGreaterThan(0);
    expect(scenario!.costs!.walBytes).toBeGreaterThan(0);
    expect(scenario!.costs!.rowsWritten).toBeGreaterThanOrEqual(4);
    expect(scenario!.costs!.transactions).toBeGreaterThan(0.5);
    expect(output.join('')).toMatch(/\| per delivery \(whole scenario\)\s+\| deliveries \|/);
    // --wal-by-table: the scenario's WAL, read back, found in the deliveries' table and indexes and in the job queue's.
    const wal = scenario!.costs!.walByTable;
    expect(wal['public.deliveries']!.table).toBeGreaterThan(0);
    expect(wal['public.deliveries']!.indexes).toBeGreaterThan(0);
    expect(wal['graphile_worker._private_jobs']!.table).toBeGreaterThan(0);
    expect(output.join('')).toMatch(/\| WAL bytes per delivery \(whole scenario\)\s+\| table /);

    // Publish capacity: both mutations measured, and every acknowledged event is stored.
    expect(results.publish.map((p) => [p.mutation, p.eventsPerCall])).toEqual([
      ['publishEvent', 1],
      ['publishEvents', 100],
    ]);
    for (const publish of results.publish) {
      expect(publish.calls).toBeGreaterThan(0);
      expect(publish.eventsPerSecond).toBeGreaterThan(0);
      expect(publish.stored).toBe(publish.acknowledged);
      expect(publish.stored).toBeGreaterThanOrEqual(publish.calls * publish.eventsPerCall);
      expect(publish.balanced).toBe(true);
    }
  });
});
