export const DeliveryStatus = {
  /** Waiting for its first attempt, or re-queued by retryDelivery. */
  PENDING: 'PENDING',
  SUCCEEDED: 'SUCCEEDED',
  /** The last attempt failed and another is scheduled (`nextAttemptAt`). */
  FAILED: 'FAILED',
  /** Every attempt failed: a dead letter, until retryDelivery re-queues it. */
  DEAD: 'DEAD',
  /** Cancelled before it finished (cancelPendingDeliveries): kept as a record, never attempted again. */
  CANCELLED: 'CANCELLED',
} as const;
export type DeliveryStatus = (typeof DeliveryStatus)[keyof typeof DeliveryStatus];

/** Not finished: to be attempted (again). The unfinished deliveries are the rows of `open_deliveries`. */
export function isUnfinished(status: DeliveryStatus): boolean {
  return status === DeliveryStatus.PENDING || status === DeliveryStatus.FAILED;
}
