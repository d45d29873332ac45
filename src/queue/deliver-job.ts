import type { JobSpec } from '../db/sql';

export const DELIVER_TASK = 'deliver';

export interface DeliverPayload {
  deliveryId: string;
  /** The attempt this job makes; a job whose attempt was already recorded does nothing. */
  attempt: number;
  /** The endpoint rate slot this job was scheduled for (ISO time): it does not queue for another. */
  rateSlot?: string;
}

/** A delivery's job key is this prefix and the delivery id. */
export const DELIVER_JOB_KEY_PREFIX = 'deliver:';

/**
 * The retry lane (docs/delivery-policy.md): a retry's job (attempt 2 and later, whatever queued it) runs after every
 * due first attempt (graphile-worker takes lower priorities first; a first attempt's is null, 0), and carries this flag
 * so a worker whose retry lane is full does not fetch it (RunnerOptions.forbiddenFlags).
 */
export const RETRY_JOB_PRIORITY = 10;
export const RETRY_JOB_FLAG = 'retry';

export function isRetryAttempt(attempt: number): boolean {
  return attempt >= 2;
}

/** One job key per delivery: re-queueing replaces a waiting job instead of adding a second one. */
export function deliverJob(deliveryId: string, attempt: number, runAt?: Date, rateSlot?: Date): JobSpec {
  const payload: DeliverPayload = rateSlot ? { deliveryId, attempt, rateSlot: rateSlot.toISOString() } : { deliveryId, attempt };
  const job: JobSpec = { identifier: DELIVER_TASK, payload, runAt, jobKey: `${DELIVER_JOB_KEY_PREFIX}${deliveryId}`, maxAttempts: 25 };
  // A first attempt keeps herald.deliver_job's spec (no priority, no flags).
  return isRetryAttempt(attempt) ? { ...job, priority: RETRY_JOB_PRIORITY, flags: [RETRY_JOB_FLAG] } : job;
}

export function isDeliverPayload(value: unknown): value is DeliverPayload {
  const payload = value as Partial<DeliverPayload> | null;
  return typeof payload?.deliveryId === 'string' && Number.isInteger(payload.attempt) && (payload.attempt ?? 0) >= 1;
}
