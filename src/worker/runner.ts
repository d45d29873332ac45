import type { MikroORM } from '@mikro-orm/postgresql';
import { Logger as WorkerLogger, type Runner, run } from 'graphile-worker';
import type { Pool } from 'pg';
import type { HeraldConfig } from '../config';
import { WebhookHttpClient } from '../delivery/http-client';
import type { Clock } from '../lib/clock';
import type { Logger } from '../lib/logger';
import { DELIVER_TASK } from '../modules/deliveries/deliver-job';
import { createDeliverTask } from './tasks/deliver.task';

export interface WorkerHandle {
  stop(): Promise<void>;
  readonly running: boolean;
}

export function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const log = logger.child({ component: 'graphile-worker', ...(scope.taskIdentifier ? { task: scope.taskIdentifier } : {}) });
    const method = level === 'error' ? 'error' : level === 'warning' ? 'warn' : level === 'info' ? 'debug' : 'trace';
    log[method](meta ?? {}, message);
  });
}

export async function startWorker(deps: {
  orm: MikroORM;
  pool: Pool;
  config: HeraldConfig;
  clock: Clock;
  logger: Logger;
}): Promise<WorkerHandle> {
  const http = new WebhookHttpClient();
  const runner: Runner = await run(
    {
      pgPool: deps.pool,
      concurrency: deps.config.worker.concurrency,
      pollInterval: deps.config.worker.pollIntervalMs,
      noHandleSignals: true,
      logger: workerLogger(deps.logger),
      taskList: { [DELIVER_TASK]: createDeliverTask({ ...deps, http }) },
      gracefulShutdownAbortTimeout: deps.config.shutdownGraceMs,
    },
    undefined,
    [],
  );
  let running = true;
  void runner.promise.catch((error: unknown) => {
    running = false;
    deps.logger.error({ err: error }, 'worker stopped with an error');
  });
  deps.logger.info({ concurrency: deps.config.worker.concurrency }, 'worker started');
  return {
    get running() {
      return running;
    },
    stop: async () => {
      if (!running) return;
      running = false;
      await runner.stop();
      await runner.promise.catch(() => undefined);
      await http.close();
    },
  };
}
