import type { Pool } from 'pg';
import type { Task } from 'graphile-worker';
import type { HeraldConfig } from '../../config';
import type { WebhookHttpClient } from '../../delivery/http-client';
import type { Clock } from '../../lib/clock';
import type { SecretBox } from '../../lib/encryption';
import type { Logger } from '../../lib/logger';
import { type DeliverPayload, isDeliverBatchPayload, isDeliverPayload, isRetryAttempt } from '../../queue/deliver-job';
import { AttemptSlots } from '../../lib/attempt-slots';
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

/**
 * Makes the attempt a deliver job carries: one delivery's, or the first attempts of a fan-out's batch
 * (DeliverBatchPayload), each run as its own job would be. Only infrastructure faults throw (graphile-worker retries
 * those; a batch's attempts already recorded are skipped when it runs again).
 */
export function createDeliverTask(deps: DeliverTaskDependencies): Task {
  // One store per worker process: the deliveries it runs at once share its batches.
  const lane = deps.retryLane;
  const store = new DeliveryStore(deps.pool, deps.config, lane && ((ms) => lane.observeFirstAttemptStart(ms)));
  // graphile-worker counts jobs; first attempts are counted here, so a batch's attempts share WORKER_CONCURRENCY.
  const firstAttemptSlots = new AttemptSlots(deps.config.worker.concurrency);

  // A delivery can have two jobs at once (a batch run again after a fault or past its lease, beside the delivery's own
  // job that a park, a rate limit or a FIFO group gave it). Admission tells pools apart, not one pool's own runs, so
  // this process runs them one after the other: the second finds the attempt made, or makes it if the first did not.
  const attempting = new Map<string, Promise<void>>();

  const attemptOne = async (job: DeliverPayload, poolId: string, jobId: string | undefined): Promise<void> => {
    for (let earlier = attempting.get(job.deliveryId); earlier; earlier = attempting.get(job.deliveryId)) {
      await earlier.catch(() => undefined);
    }
    const run = attemptInSlot(job, poolId, jobId);
    const tracked = run.finally(() => attempting.delete(job.deliveryId));
    attempting.set(job.deliveryId, tracked);
    await tracked;
  };

  const attemptInSlot = async (job: DeliverPayload, poolId: string, jobId: string | undefined): Promise<void> => {
    let release: (() => void) | null = null;
    if (!isRetryAttempt(job.attempt)) {
      // A job waits at most WORKER_DEAD_AFTER_MS in graphile-worker's local queue; an attempt waits no longer here,
      // so that the job keeps within its lease. Past that, the delivery goes back to the queue as its own job.
      release = await firstAttemptSlots.acquire(deps.config.worker.deadAfterMs);
      if (!release) {
        await store.rescheduleAttempt(job.deliveryId, job.attempt, deps.clock.now());
        deps.logger.info({ deliveryId: job.deliveryId, jobId }, 'no attempt slot free in time; delivery queued again as its own job');
        return;
      }
    }
    let result;
    try {
      result = await new DeliveryExecutor(store, deps).run(job, jobId === undefined ? { poolId } : { poolId, jobId });
    } finally {
      release?.();
    }
    if (result.kind === 'skipped' && result.wakeInMs !== undefined) deps.waker?.wakeIn(result.wakeInMs);
    // A child logger per delivery only when its line will be written (pino builds each child's redaction).
    if (!deps.logger.isLevelEnabled(result.kind === 'skipped' ? 'debug' : 'info')) return;
    const log = deps.logger.child({ deliveryId: job.deliveryId, attempt: job.attempt, jobId });
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

  return async (payload, helpers) => {
    const poolId = helpers.job.locked_by ?? 'unknown';
    const ended = deps.heartbeat?.taskStarted(poolId);
    try {
      if (isDeliverBatchPayload(payload)) {
        // No job id: parking one of them must not end the job that carries the others.
        const attempts = payload.deliveryIds.map((deliveryId) => attemptOne({ deliveryId, attempt: 1 }, poolId, undefined));
        const failed = (await Promise.allSettled(attempts)).find((outcome) => outcome.status === 'rejected');
        if (failed) throw failed.reason;
      } else if (isDeliverPayload(payload)) {
        await attemptOne(payload, poolId, helpers.job.id);
      } else {
        deps.logger.error({ jobId: helpers.job.id }, 'deliver job with an invalid payload; dropped');
      }
    } finally {
      ended?.();
    }
  };
}
