import { setTimeout as sleep } from 'node:timers/promises';
import { monotonicMs } from './clock';
import type { CostMeter, PerDeliveryCosts } from './costs';
import { runOpenLoop, type SendOutcome } from './open-loop';
import { type ProcessGroupMonitor, type ProcessUsage, round } from './proc';
import type { BenchReceiver } from './receiver';
import {
  type ArrivalProcess,
  type Ledger,
  type Percentiles,
  arrivalSchedule,
  computeLedger,
  percentiles,
  rateInWindow,
  seededRandom,
} from './stats';

export interface ScenarioSpec {
  /** Unique per run; also the receiver path segment. */
  id: string;
  system: 'herald' | 'baseline';
  fanout: number;
  /** Events offered per second. */
  rate: number;
  arrival: ArrivalProcess;
  warmupMs: number;
  steadyMs: number;
  drainTimeoutMs: number;
  payloadBytes: number;
}

export interface ScenarioResult {
  spec: ScenarioSpec;
  offeredEventsPerSecond: number;
  offeredDeliveriesPerSecond: number;
  /** Distinct deliveries received per second during the steady phase. */
  deliveriesPerSecond: number;
  /** Publish calls answered successfully per second during the steady phase. */
  publishPerSecond: number;
  /** Publish-sent (due time) to first byte at the receiver, steady-phase events only (ms). */
  latencyMs: Percentiles | null;
  /** Publish call round trip, steady phase (ms). */
  publishLatencyMs: Percentiles | null;
  ledger: Ledger;
  /** Seconds from the last publish due time until the last delivery arrived. */
  drainSeconds: number;
  publishErrors: Record<string, number>;
  unparsableDeliveries: number;
  maxSendLagMs: number;
  processes: ProcessUsage[];
  /** The whole scenario's costs per delivery received (null: the system has no meter). */
  costs: PerDeliveryCosts | null;
  void: boolean;
  voidReason: string | null;
}

/** Everything the scenario needs from the system under test. */
export interface SystemUnderTest {
  /** Publishes event `seq` with `data` (which carries its send time) and says whether it was accepted. */
  publish(seq: number, data: Record<string, unknown>): Promise<SendOutcome>;
  monitors: ProcessGroupMonitor[];
  costs?: CostMeter;
}

/** The benchmark's event data: an order of about `payloadBytes` bytes of JSON, carrying its send time. */
export function benchEventData(payloadBytes: number): (seq: number, sentAt: number, scenario: string) => Record<string, unknown> {
  const padding = 'x'.repeat(Math.max(0, payloadBytes - 120));
  return (seq, sentAt, scenario) => ({ seq, sentAt, scenario, orderId: `ORD-${seq}`, amount: 99.99, currency: 'USD', padding });
}

/**
 * One open-loop run against one system: warm-up, steady phase (measured), drain. Latency and rates count
 * the steady phase; the ledger counts every event, warm-up included.
 */
export async function runScenario(spec: ScenarioSpec, receiver: BenchReceiver, system: SystemUnderTest): Promise<ScenarioResult> {
  const schedule = arrivalSchedule(spec.rate, spec.warmupMs + spec.steadyMs, spec.arrival, seededRandom(spec.rate * 7919 + spec.fanout));
  const eventData = benchEventData(spec.payloadBytes);
  let monitorsStarted = false;
  const startMonitors = setTimeout(() => {
    monitorsStarted = true;
    for (const monitor of system.monitors) monitor.begin();
  }, spec.warmupMs + 5);
  let usage: ProcessUsage[] = [];
  const stopMonitors = setTimeout(
    () => {
      usage = system.monitors.map((monitor) => monitor.end());
    },
    spec.warmupMs + spec.steadyMs + 5,
  );

  await system.costs?.begin();
  const loop = await runOpenLoop(schedule, (seq, dueAt) => system.publish(seq, eventData(seq, dueAt, spec.id)));
  const steadyStart = loop.startedAt + spec.warmupMs;
  const steadyEnd = steadyStart + spec.steadyMs;
  await sleep(Math.max(0, steadyEnd - monotonicMs()));
  clearTimeout(startMonitors);
  clearTimeout(stopMonitors);
  if (usage.length === 0 && monitorsStarted) usage = system.monitors.map((monitor) => monitor.end());

  const published: number[] = [];
  for (let i = 0; i < loop.ok.length; i++) if (loop.ok[i]) published.push(i);
  const expected = published.length * spec.fanout;
  const lastDue = loop.dueAt[loop.dueAt.length - 1] ?? loop.startedAt;
  const drainDeadline = monotonicMs() + spec.drainTimeoutMs;
  while (monotonicMs() < drainDeadline && (await receiver.count(spec.id)) < expected) await sleep(100);
  // Anything delivered twice usually follows quickly: give duplicates a moment to show up.
  await sleep(500);

  const { deliveries, unparsable } = await receiver.collect(spec.id);
  const ledger = computeLedger(published, spec.fanout, deliveries);
  const steadyLatencies: number[] = [];
  const seen = new Set<number>();
  const receivedTimes: number[] = [];
  let lastReceipt = lastDue;
  for (const delivery of deliveries) {
    const key = delivery.seq * spec.fanout + delivery.endpoint;
    if (seen.has(key)) continue;
    seen.add(key);
    receivedTimes.push(delivery.receivedAt);
    lastReceipt = Math.max(lastReceipt, delivery.receivedAt);
    if (delivery.sentAt >= steadyStart && delivery.sentAt < steadyEnd) steadyLatencies.push(delivery.receivedAt - delivery.sentAt);
  }
  const costs = system.costs ? await system.costs.end(seen.size) : null;
  const publishLatencies: number[] = [];
  const publishedTimes: number[] = [];
  for (let i = 0; i < loop.ok.length; i++) {
    if (!loop.ok[i]) continue;
    publishedTimes.push(loop.respondedAt[i]!);
    if (loop.dueAt[i]! >= steadyStart && loop.dueAt[i]! < steadyEnd) publishLatencies.push(loop.respondedAt[i]! - loop.dueAt[i]!);
  }
  const reasons: string[] = [];
  if (ledger.missing > 0) reasons.push(`${ledger.missing} deliveries missing after a ${spec.drainTimeoutMs / 1000} s drain`);
  if (ledger.strays > 0) reasons.push(`${ledger.strays} deliveries of events never acknowledged as published`);
  if (unparsable > 0) reasons.push(`${unparsable} unparsable deliveries`);
  if (published.length === 0) reasons.push('no publish succeeded');
  return {
    spec,
    offeredEventsPerSecond: spec.rate,
    offeredDeliveriesPerSecond: spec.rate * spec.fanout,
    deliveriesPerSecond: round(rateInWindow(receivedTimes, steadyStart, steadyEnd), 1),
    publishPerSecond: round(rateInWindow(publishedTimes, steadyStart, steadyEnd), 1),
    latencyMs: roundPercentiles(percentiles(steadyLatencies)),
    publishLatencyMs: roundPercentiles(percentiles(publishLatencies)),
    ledger,
    drainSeconds: round((lastReceipt - lastDue) / 1000, 2),
    publishErrors: Object.fromEntries(loop.errors),
    unparsableDeliveries: unparsable,
    maxSendLagMs: round(loop.maxSendLagMs, 1),
    processes: usage,
    costs,
    void: !ledger.balanced || reasons.length > 0,
    voidReason: reasons.length > 0 ? reasons.join('; ') : ledger.balanced ? null : 'ledger does not balance',
  };
}

function roundPercentiles(value: Percentiles | null): Percentiles | null {
  if (!value) return null;
  const out = { ...value };
  for (const key of Object.keys(out) as Array<keyof Percentiles>) if (key !== 'count') out[key] = round(out[key], 2);
  return out;
}
