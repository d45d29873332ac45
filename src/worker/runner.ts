import { EventEmitter } from 'node:events';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type Runner, type RunnerOptions, type WorkerEvents, parseCronItems, run } from 'graphile-worker';
import type { Pool } from 'pg';
import type { HeraldConfig } from '../config';
import { type DeliveryNetwork, WebhookHttpClient } from '../delivery/http-client';
import type { SecretBox } from '../lib/encryption';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { retry } from '../lib/retry';
import { DELIVER_RETRY_TASK, DELIVER_TASK } from '../queue/deliver-job';
import { REPLAY_TASK } from '../modules/replays/replay-job';
import { workerLogger } from '../db/graphile-worker-logger';
import { WorkerHeartbeat } from './heartbeat';
import { workerSizingNote } from './worker-sizing';
import { JobWaker } from './job-waker';
import { RetryLane } from './retry-lane';
import { createDeliverTask } from './tasks/deliver.task';
import { PURGE_TASK, createPurgeTask } from './tasks/purge.task';
import { createReplayTask } from './tasks/replay.task';

export interface WorkerHandle {
  stop(): Promise<void>;
  readonly running: boolean;
}

/**
 * A pool's graphile-worker preset. Its throughput knobs: a local queue (one fetch for many jobs instead of one query
 * per job) and batched completion. A job waits in the local queue at most `deadAfterMs`, so waiting plus running (two
 * timeouts at most) stays within the lease after which the heartbeat sweeper unlocks it. `refetchDelay`: after a fetch
 * that found nothing, how long the local queue waits before the next, whatever jobs are announced meanwhile.
 */
function poolPreset(
  worker: HeraldConfig['worker'],
  localQueueSize: number,
  refetchDelay?: { durationMs: number },
): Pick<RunnerOptions, 'preset'> {
  const ttl = Math.min(300_000, worker.deadAfterMs);
  return {
    preset: {
      worker: {
        // Each fetch planned for the task ids it asks for, so that it reads them through jobs_task_index: a plan
        // prepared once and reused for any ids reads every due job of every task in priority order.
        preparedStatements: false,
        ...(localQueueSize > 0 ? { localQueue: { size: localQueueSize, ttl, ...(refetchDelay ? { refetchDelay } : {}) } } : {}),
        ...(worker.completeBatchDelayMs > 0
          ? { completeJobBatchDelay: worker.completeBatchDelayMs, failJobBatchDelay: worker.completeBatchDelayMs }
          : {}),
      },
    },
  };
}

/** One graphile-worker pool, started again after a failure until stopped. */
interface SupervisedPool {
  readonly running: boolean;
  stop(): Promise<void>;
}

/**
 * Runs a graphile-worker pool with `options`. graphile-worker shuts its pool down after an error it cannot place, such
 * as a failed batched job completion (it retries none, not even a deadlock or a dropped connection): the process would
 * stay up with no worker. A new pool is started instead; what the old one still held is swept once it stops beating.
 */
async function superviseRunner(
  options: RunnerOptions & { events: WorkerEvents },
  deps: { heartbeat: WorkerHeartbeat; waker: JobWaker; logger: Logger; name: string },
): Promise<SupervisedPool> {
  const { events } = options;
  // The pool id is what graphile-worker writes into locked_by: the heartbeat vouches for it.
  let currentPoolId: string | null = null;
  events.on('pool:create', ({ workerPool }) => {
    currentPoolId = workerPool.id;
    deps.heartbeat.addPool(workerPool.id);
    deps.waker.attach(workerPool);
  });
  let stopping = false;
  let running = true;
  // A pool released by a failure (not by stop) stops beating, so the sweeper frees what it still held.
  events.on('pool:release', ({ workerPool }) => {
    deps.waker.detach(workerPool);
    if (!stopping) deps.heartbeat.removePool(workerPool.id);
  });
  /**
   * The pool's runner; null between a pool's failure and its replacement's start. No overrides: an override list
   * (even an empty one) would replace the options' parsedCronItems.
   */
  let runner: Runner | null = await run(options, undefined, undefined);
  /**
   * `replacing` is set while the new pool starts: stop() waits for it, so a pool whose start ends after stop() began
   * is stopped too, instead of running on without connections and keeping the process alive.
   */
  let replacing: Promise<void> | null = null;
  const stopRequested = new AbortController();
  const replace = (error: unknown): void => {
    if (stopping || replacing || !runner) return;
    running = false;
    deps.logger.error({ err: error, pool: deps.name }, 'worker stopped with an error; starting a new one');
    // Its cron and timers would otherwise run on (its pool may never settle, so stop() does not wait for it either).
    // After this turn: a pool shutting itself down is marked inactive just after it announces it, and stopping an
    // active one would start a second shutdown.
    const abandoned = runner;
    runner = null;
    setImmediate(() => void abandoned.stop().catch(() => undefined));
    // From 1 s after the failure, doubling to 30 s, until a pool starts or stop() is called.
    replacing = retry(
      async () => {
        const started = await run(options, undefined, undefined);
        runner = started;
        if (stopping) return;
        running = true;
        restartOnFailure(started);
      },
      {
        initialDelayMs: 1000,
        maxDelayMs: 30_000,
        delayFirstAttempt: true,
        signal: stopRequested.signal,
        onRetry: ({ error }) => deps.logger.error({ err: error, pool: deps.name }, 'could not start a new worker; trying again'),
      },
    )
      // Only stop() ends the retries, and it stops whatever pool was started.
      .catch(() => undefined)
      .finally(() => {
        replacing = null;
      });
  };
  const restartOnFailure = (current: Runner): void => {
    void current.promise.catch((error: unknown) => {
      if (runner === current) replace(error);
    });
  };
  // A pool can also shut itself down after an error and then never settle its promise (its local queue could
  // not be handed back while PostgreSQL restarted): the process would stay up with no worker. Its shutdown
  // starting, not by our stop, is reason enough to start a new pool; it stops beating, so the sweeper frees
  // what it held.
  events.on('pool:gracefulShutdown', ({ workerPool, message }) => {
    if (stopping || workerPool.id !== currentPoolId) return;
    deps.heartbeat.removePool(workerPool.id);
    replace(new Error(`the worker pool shut itself down: ${message}`));
  });
  restartOnFailure(runner);
  return {
    get running() {
      return running;
    },
    stop: async () => {
      if (stopping) return;
      stopping = true;
      running = false;
      stopRequested.abort();
      await replacing;
      if (runner) {
        await runner.stop().catch(() => undefined);
        await runner.promise.catch(() => undefined);
      }
    },
  };
}

export async function startWorker(deps: {
  orm: MikroORM;
  pool: Pool;
  config: HeraldConfig;
  clock: Clock;
  logger: Logger;
  secrets: SecretBox;
  /** Tests inject DNS and a dialler; production uses the system's. */
  network?: DeliveryNetwork;
}): Promise<WorkerHandle> {
  const { worker } = deps.config;
  const http = WebhookHttpClient.guarded(deps.config.ssrf, deps.network);
  const heartbeat = new WorkerHeartbeat(deps);
  const waker = new JobWaker();
  const retryLane = new RetryLane(worker.retryConcurrency);
  const deliverTask = createDeliverTask({ ...deps, http, waker, heartbeat, retryLane });
  const shared = {
    pgPool: deps.pool,
    pollInterval: worker.pollIntervalMs,
    noHandleSignals: true,
    logger: workerLogger(deps.logger),
    gracefulShutdownAbortTimeout: deps.config.shutdownGraceMs,
  } satisfies RunnerOptions;
  const supervision = { heartbeat, waker, logger: deps.logger };
  // First attempts, replays and the purge: their fetches read only their own tasks' jobs (jobs_task_index).
  const firstAttempts = await superviseRunner(
    {
      ...shared,
      concurrency: worker.concurrency,
      events: new EventEmitter(),
      taskList: {
        [DELIVER_TASK]: deliverTask,
        [PURGE_TASK]: createPurgeTask(deps),
        [REPLAY_TASK]: createReplayTask({ ...deps, waker }),
      },
      parsedCronItems: parseCronItems([{ task: PURGE_TASK, match: '7 * * * *', options: { backfillPeriod: 0 } }]),
      ...poolPreset(worker, worker.localQueueSize),
    },
    { ...supervision, name: 'first attempts' },
  );
  // The retry lane: retries' own pool, its workers let in one by one as the governor allows (see RetryLane).
  const retryEvents: WorkerEvents = new EventEmitter();
  retryLane.attach(retryEvents);
  let retries: SupervisedPool;
  try {
    retries = await superviseRunner(
      {
        ...shared,
        concurrency: worker.retryConcurrency,
        events: retryEvents,
        forbiddenFlags: retryLane.forbiddenFlags,
        parsedCronItems: [],
        taskList: {
          [DELIVER_RETRY_TASK]: async (payload, helpers) => {
            try {
              await deliverTask(payload, helpers);
            } finally {
              retryLane.leave();
            }
          },
        },
        // Every inserted job is announced to both pools: after a fetch that found no retry, this one waits about a
        // poll interval before the next, instead of fetching again for each first attempt published.
        ...poolPreset(worker, Math.min(worker.localQueueSize, worker.retryConcurrency), { durationMs: worker.pollIntervalMs }),
      },
      { ...supervision, name: 'retries' },
    );
  } catch (error) {
    await firstAttempts.stop();
    throw error;
  }
  heartbeat.start();
  deps.logger.info(
    {
      concurrency: worker.concurrency,
      retryConcurrency: worker.retryConcurrency,
      localQueueSize: worker.localQueueSize,
      completeBatchDelayMs: worker.completeBatchDelayMs,
    },
    'worker started',
  );
  const sizing = workerSizingNote({
    concurrency: worker.concurrency,
    localQueueSize: worker.localQueueSize,
    poolSize: deps.pool.options.max ?? 10,
  });
  if (sizing) deps.logger.info(sizing.fields, sizing.message);
  let stopped = false;
  return {
    get running() {
      return firstAttempts.running && retries.running;
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      waker.stop();
      await Promise.all([firstAttempts.stop(), retries.stop()]);
      await heartbeat.stop();
      await http.close();
    },
  };
}
