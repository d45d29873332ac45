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

/** One job key per delivery: re-queueing replaces a waiting job instead of adding a second one. */
export function deliverJob(deliveryId: string, attempt: number, runAt?: Date, priority?: number, rateSlot?: Date): JobSpec {
  const payload: DeliverPayload = rateSlot ? { deliveryId, attempt, rateSlot: rateSlot.toISOString() } : { deliveryId, attempt };
  return { identifier: DELIVER_TASK, payload, runAt, jobKey: `${DELIVER_JOB_KEY_PREFIX}${deliveryId}`, maxAttempts: 25, priority };
}

export function isDeliverPayload(value: unknown): value is DeliverPayload {
  const payload = value as Partial<DeliverPayload> | null;
  return typeof payload?.deliveryId === 'string' && Number.isInteger(payload.attempt) && (payload.attempt ?? 0) >= 1;
}
