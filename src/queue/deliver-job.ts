import type { JobSpec } from '../db/sql';

export const DELIVER_TASK = 'deliver';

export interface DeliverPayload {
  deliveryId: string;
  /** The attempt this job makes; a job whose attempt was already recorded does nothing. */
  attempt: number;
  /** The endpoint rate slot this job was scheduled for (ISO time): it does not queue for another. */
  rateSlot?: string;
}

/**
 * The first attempts of several deliveries of one fan-out, due at the same time, in one job (at most
 * FIRST_ATTEMPT_BATCH_SIZE): the fan-out writes it (herald.fan_out_events) where it would otherwise write one job per
 * delivery. Its task makes each delivery's first attempt as that delivery's own job would; a retry, a reschedule or a
 * wake-up of one of them is that delivery's own job. It has no key: requeueing a delivery adds its own job, and the
 * batch's run then finds the attempt made, or in flight, and skips it.
 */
export interface DeliverBatchPayload {
  deliveryIds: string[];
  attempt: 1;
}

/** The most first attempts one job carries. */
export const FIRST_ATTEMPT_BATCH_SIZE = 16;

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

/** The job the fan-out writes for the first attempts of several deliveries (herald.fan_out_events writes the same). */
export function deliverBatchJob(deliveryIds: string[], runAt?: Date): JobSpec {
  const payload: DeliverBatchPayload = { deliveryIds, attempt: 1 };
  return { identifier: DELIVER_TASK, payload, runAt, maxAttempts: 25 };
}

export function isDeliverBatchPayload(value: unknown): value is DeliverBatchPayload {
  const payload = value as Partial<DeliverBatchPayload> | null;
  return (
    Array.isArray(payload?.deliveryIds) &&
    payload.deliveryIds.length > 0 &&
    payload.deliveryIds.every((id) => typeof id === 'string') &&
    payload.attempt === 1
  );
}

export function isDeliverPayload(value: unknown): value is DeliverPayload {
  const payload = value as Partial<DeliverPayload> | null;
  return typeof payload?.deliveryId === 'string' && Number.isInteger(payload.attempt) && (payload.attempt ?? 0) >= 1;
}
