import type { Pool } from 'pg';
import type { Task } from 'graphile-worker';
import type { HeraldConfig } from '../../config';
import type { WebhookHttpClient } from '../../delivery/http-client';
import type { Clock } from '../../lib/clock';
import type { SecretBox } from '../../lib/encryption';
import type { Logger } from '../../lib/logger';
import { type DeliverPayload, isDeliverBatchPayload, isDeliverPayload, isRetryAttempt } from '../../queue/deliver-job';
import { AttemptSlots } from '../../lib/attempt-slots';
import { renewJobLock } from '../../db/job-queue-internals';
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

/** The job carrying an attempt: the pool holding its lock, its id, and whether parking may end it (its own job). */
interface Carrier {
  poolId: string;
  jobId: string;
  ownJob: boolean;
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

  const attemptOne = async (job: DeliverPayload, carrier: Carrier): Promise<void> => {
    for (let earlier = attempting.get(job.deliveryId); earlier; earlier = attempting.get(job.deliveryId)) {
      await earlier.catch(() => undefined);
    }
    const run = attemptInSlot(job, carrier);
    const tracked = run.finally(() => attempting.delete(job.deliveryId));
    attempting.set(job.deliveryId, tracked);
    await tracked;
  };

  /** When each job's lock was last renewed while its attempts waited for slots (ms, performance.now()). */
  const renewedAt = new Map<string, number>();

  /**
   * Renews the carrier's job lock, once for all of its attempts waiting together. Not renewed, the job may be run
   * again elsewhere: admission then keeps the two from both sending.
   */
  const renewWaitingJob = async (carrier: Carrier, everyMs: number): Promise<void> => {
    if (performance.now() - (renewedAt.get(carrier.jobId) ?? -Infinity) < everyMs / 2) return;
    renewedAt.set(carrier.jobId, performance.now());
    await renewJobLock(deps.pool, { id: carrier.jobId, lockedBy: carrier.poolId }).catch((error: unknown) =>
      deps.logger.warn({ err: error, jobId: carrier.jobId }, 'could not renew the lock of a job waiting for attempt slots'),
    );
  };

  const attemptInSlot = async (job: DeliverPayload, carrier: Carrier): Promise<void> => {
    let release: (() => void) | null = null;
    if (!isRetryAttempt(job.attempt)) {
      // The sweeper takes back a job held past its lease (two delivery timeouts and WORKER_DEAD_AFTER_MS). A first
      // attempt waiting for a slot renews its job's lock every WORKER_DEAD_AFTER_MS instead: the job is working.
      const waitMs = deps.config.worker.deadAfterMs;
      release = await firstAttemptSlots.acquire(waitMs);
      while (!release) {
        await renewWaitingJob(carrier, waitMs);
        release = await firstAttemptSlots.acquire(waitMs);
      }
    }
    let result;
    try {
      const lock = carrier.ownJob ? { poolId: carrier.poolId, jobId: carrier.jobId } : { poolId: carrier.poolId };
      result = await new DeliveryExecutor(store, deps).run(job, lock);
    } finally {
      release?.();
    }
    if (result.kind === 'skipped' && result.wakeInMs !== undefined) deps.waker?.wakeIn(result.wakeInMs);
    // A child logger per delivery only when its line will be written (pino builds each child's redaction).
    if (!deps.logger.isLevelEnabled(result.kind === 'skipped' ? 'debug' : 'info')) return;
    const log = deps.logger.child({ deliveryId: job.deliveryId, attempt: job.attempt, jobId: carrier.jobId });
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
        // Parking one of them must not end the job that carries the others.
        const carrier = { poolId, jobId: helpers.job.id, ownJob: false };
        const attempts = payload.deliveryIds.map((deliveryId) => attemptOne({ deliveryId, attempt: 1 }, carrier));
        const failed = (await Promise.allSettled(attempts)).find((outcome) => outcome.status === 'rejected');
        if (failed) throw failed.reason;
      } else if (isDeliverPayload(payload)) {
        await attemptOne(payload, { poolId, jobId: helpers.job.id, ownJob: true });
      } else {
        deps.logger.error({ jobId: helpers.job.id }, 'deliver job with an invalid payload; dropped');
      }
    } finally {
      renewedAt.delete(helpers.job.id);
      ended?.();
    }
  };
}
