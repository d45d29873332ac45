import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { PublishEventDocument, RegisterEndpointDocument } from '../../src/sdk/generated/graphql';
import { type HeraldProcess, exitOf, graphqlRequest, spawnHerald } from '../helpers/cli';
import { createTestDatabase, query } from '../helpers/database';
import { waitUntil } from '../helpers/herald';
import { WebhookReceiver } from '../helpers/receiver';

const SPAWN_TIMEOUT_MS = 120_000;

/**
 * graphile-worker abandons its whole pool when a batched job completion fails (it cannot tell which jobs
 * completed). The fault is injected for real: a trigger makes PostgreSQL refuse the first completion. The worker
 * process must go on delivering with a new pool, and still stop cleanly on SIGTERM (the abandoned pool's cron and
 * timers must not keep it alive until the shutdown deadline, exit code 1).
 */
describe('the herald CLI: a worker pool graphile-worker abandons is replaced', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let receiver: WebhookReceiver;
  let env: Record<string, string>;
  let url: string;
  let key: string;
  const processes: HeraldProcess[] = [];
  const publish = async (n: number | string): Promise<string> => {
    const { publishEvent } = await graphqlRequest<{ publishEvent: { id: string } }>(url, key, PublishEventDocument, {
      input: { type: 'pool.recovery', data: { n } },
    });
    return publishEvent.id;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    // Slow answers: other jobs are in flight when a completion fails.
    receiver = await WebhookReceiver.start(() => ({ status: 200, delayMs: 300 }));
    // Sequences ignore rollbacks: the first deletion of a job (its completion) fails, every later one succeeds.
    await query(
      database.url,
      `create sequence test_completion_faults;
       create function test_fail_first_completion() returns trigger language plpgsql as $$
       begin
         if nextval('test_completion_faults') = 1 then
           raise exception 'injected fault: the first job completion fails';
         end if;
         return old;
       end $$;
       create trigger test_fail_first_completion before delete on graphile_worker._private_jobs
         for each row execute function test_fail_first_completion();`,
    );
    env = {
      DATABASE_URL: database.url,
      WORKER_POLL_INTERVAL_MS: '200',
      WORKER_HEARTBEAT_INTERVAL_MS: '500',
      WORKER_DEAD_AFTER_MS: '3000',
    };
    const api = spawnHerald('api', env);
    processes.push(api);
    url = await api.url;
    key = await api.adminKey;
    await graphqlRequest(url, key, RegisterEndpointDocument, { input: { url: receiver.url } });
  }, SPAWN_TIMEOUT_MS);
  afterAll(async () => {
    for (const process of processes) process.child.kill('SIGKILL');
    await receiver?.close();
    await database?.drop();
  }, 120_000);

  const printOutputOnFailure = () =>
    onTestFailed(() => {
      for (const process of processes) console.error(`--- herald pid ${process.child.pid}:\n${process.output.slice(-30).join('\n')}`);
    });

  it('delivers with a new pool after the old one failed a completion, then exits 0 on SIGTERM', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    printOutputOnFailure();
    // Queued before the worker starts, more than it runs at once: its local queue holds jobs when its pool fails.
    const published: string[] = [];
    for (let n = 0; n < 40; n++) published.push(await publish(n));
    const worker = spawnHerald('worker', { ...env, WORKER_CONCURRENCY: '4', WORKER_LOCAL_QUEUE_SIZE: '16' });
    processes.push(worker);
    await worker.waitForLog(/worker stopped with an error; starting a new one/, 60_000);

    // The jobs whose completion failed are still locked by the abandoned pool: the sweeper frees them once that pool
    // stops beating, and the new pool makes their attempts again (at least once). A later event goes straight through.
    published.push(await publish('later'));
    await waitUntil(
      () =>
        query<{ succeeded: number; jobs: number }>(
          database.url,
          `select (select count(*)::int from deliveries where status = 'SUCCEEDED' and event_id = any($1)) as succeeded,
                  (select count(*)::int from graphile_worker._private_jobs j
                    join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'deliver') as jobs`,
          [published],
        ),
      (rows) => rows[0]!.succeeded === published.length && rows[0]!.jobs === 0,
      30_000,
    );
    const ids = new Set(receiver.requests.map((request) => request.headers['webhook-id']));
    expect(ids).toEqual(new Set(published));

    worker.child.kill('SIGTERM');
    expect(await exitOf(worker)).toEqual({ code: 0, signal: null, unclean: [] });
  });

  it('exits 0 on SIGTERM while a new pool is starting, and the new pool is stopped with it', { timeout: SPAWN_TIMEOUT_MS }, async () => {
    printOutputOnFailure();
    await query(database.url, 'alter sequence test_completion_faults restart');
    // A short grace: a process kept alive by a pool started after its shutdown exits 1 five seconds after it.
    const worker = spawnHerald('worker', { ...env, SHUTDOWN_GRACE_MS: '1000' });
    processes.push(worker);
    await worker.waitForLog(/worker started/);
    // graphile-worker reads its migrations table first when it starts a pool: holding that table makes the new
    // pool's start wait, so SIGTERM arrives in the middle of it.
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table graphile_worker.migrations in access exclusive mode');
      await publish('during restart');
      await worker.waitForLog(/worker stopped with an error; starting a new one/, 30_000);
      await waitUntil(
        () =>
          query<{ waiting: number }>(
            database.url,
            `select count(*)::int as waiting from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock' and query like '%graphile_worker%migrations%'`,
          ),
        (rows) => rows[0]!.waiting > 0,
        30_000,
      );
      worker.child.kill('SIGTERM');
      await worker.waitForLog(/shutting down/);
      // No line marks the runner's stop() reaching its wait for the blocked pool start: a moment lets it get there.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await blocker.query('commit');
    } finally {
      await blocker.end();
    }
    expect(await exitOf(worker)).toEqual({ code: 0, signal: null, unclean: [] });
  });

  it(
    'exits 0 on SIGTERM in the pause before a new pool, without waiting for the abandoned one',
    { timeout: SPAWN_TIMEOUT_MS },
    async () => {
      printOutputOnFailure();
      await query(database.url, 'alter sequence test_completion_faults restart');
      for (let n = 0; n < 40; n++) await publish(`pause ${n}`);
      const worker = spawnHerald('worker', { ...env, WORKER_CONCURRENCY: '4', WORKER_LOCAL_QUEUE_SIZE: '16', SHUTDOWN_GRACE_MS: '1000' });
      processes.push(worker);
      await worker.waitForLog(/worker stopped with an error; starting a new one/, 60_000);
      // A new pool starts a second after the failure: this signal comes before it.
      worker.child.kill('SIGTERM');
      expect(await exitOf(worker)).toEqual({ code: 0, signal: null, unclean: [] });
    },
  );
});
