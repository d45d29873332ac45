/**
 * CLOCK_MONOTONIC in milliseconds. It is the same clock in every process and thread on the machine, so a
 * send time stamped by the load generator and a receive time stamped by the receiver thread compare directly.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
