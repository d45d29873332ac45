import type { Pool } from 'pg';
import type { Task } from 'graphile-worker';
import type { HeraldConfig } from '../../config';
import type { WebhookHttpClient } from '../../delivery/http-client';
import type { Clock } from '../../lib/clock';
import type { SecretBox } from '../../lib/encryption';
import type { Logger } from '../../lib/logger';
import { isDeliverPayload } from '../../queue/deliver-job';
import { DeliveryExecutor } from '../../engine/delivery-executor';
import { DeliveryStore } from '../../engine/delivery-store';
import type { WorkerHeartbeat } from '../heartbeat';
import type { JobWaker } from '../job-waker';
import type { RetryLane } from '../retry-lane';

export interface DeliverTaskDependencies {
  /** The worker's connections: the delivery pipeline runs on them, apart from the ORM's. */
  pool: Pool;
  config: HeraldConfig;
  http: WebhookHttpClient;
  clock: Clock;
  logger: Logger;
  secrets: SecretBox;
  waker?: JobWaker;
  /** Keeps a pool beating while its tasks run, even after it was released. */
  heartbeat?: Pick<WorkerHeartbeat, 'taskStarted'>;
  /** Told how long first attempts' starts take: what governs the retry pool (none: ungoverned). */
  retryLane?: Pick<RetryLane, 'observeFirstAttemptStart'>;
}

/** Makes one attempt of one delivery. Only infrastructure faults throw (graphile-worker retries those). */
export function createDeliverTask(deps: DeliverTaskDependencies): Task {
  // One store per worker process: the deliveries it runs at once share its batches.
  const lane = deps.retryLane;
  const store = new DeliveryStore(deps.pool, deps.config, lane && ((ms) => lane.observeFirstAttemptStart(ms)));
  return async (payload, helpers) => {
    if (!isDeliverPayload(payload)) {
      deps.logger.error({ jobId: helpers.job.id }, 'deliver job with an invalid payload; dropped');
      return;
    }
    const executor = new DeliveryExecutor(store, deps);
    const poolId = helpers.job.locked_by ?? 'unknown';
    const ended = deps.heartbeat?.taskStarted(poolId);
    let result;
    try {
      result = await executor.run(payload, { poolId, jobId: helpers.job.id });
    } finally {
      ended?.();
    }
    if (result.kind === 'skipped' && result.wakeInMs !== undefined) deps.waker?.wakeIn(result.wakeInMs);
    // A child logger per delivery only when its line will be written (pino builds each child's redaction).
    if (!deps.logger.isLevelEnabled(result.kind === 'skipped' ? 'debug' : 'info')) return;
    const log = deps.logger.child({ deliveryId: payload.deliveryId, attempt: payload.attempt, jobId: helpers.job.id });
    if (result.kind === 'skipped') {
      log.debug({ reason: result.reason }, 'delivery job skipped');
    } else {
      log.info(
        {
          status: result.status,
          statusCode: result.outcome.statusCode,
          errorKind: result.outcome.errorKind,
          durationMs: result.outcome.durationMs,
        },
        'delivery attempt recorded',
      );
    }
  };
}
