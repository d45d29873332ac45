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
 * The retry lane (docs/delivery-policy.md): a retry's job (attempt 2 and later, whatever queued it) has a task of its
 * own, which only the worker's retry pool fetches, so first attempts' fetches never read a storm of due retries.
 */
export const DELIVER_RETRY_TASK = 'deliver_retry';
/** Every task that makes a delivery attempt. */
export const DELIVER_TASKS = [DELIVER_TASK, DELIVER_RETRY_TASK];

export function isRetryAttempt(attempt: number): boolean {
  return attempt >= 2;
}

/** One job key per delivery: re-queueing replaces a waiting job instead of adding a second one. */
export function deliverJob(deliveryId: string, attempt: number, runAt?: Date, rateSlot?: Date): JobSpec {
  const payload: DeliverPayload = rateSlot ? { deliveryId, attempt, rateSlot: rateSlot.toISOString() } : { deliveryId, attempt };
  // A first attempt's is the spec the fan-out writes in SQL (herald.publish_events).
  const identifier = isRetryAttempt(attempt) ? DELIVER_RETRY_TASK : DELIVER_TASK;
  return { identifier, payload, runAt, jobKey: `${DELIVER_JOB_KEY_PREFIX}${deliveryId}`, maxAttempts: 25 };
}

export function isDeliverPayload(value: unknown): value is DeliverPayload {
  const payload = value as Partial<DeliverPayload> | null;
  return typeof payload?.deliveryId === 'string' && Number.isInteger(payload.attempt) && (payload.attempt ?? 0) >= 1;
}
