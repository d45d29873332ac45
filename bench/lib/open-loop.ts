import { monotonicMs } from './clock';

export interface SendOutcome {
  ok: boolean;
  error?: string;
}

export interface OpenLoopResult {
  /** Monotonic ms at which the schedule started. */
  startedAt: number;
  /** Per request, in schedule order: when it was due, when its response came, and whether it succeeded. */
  dueAt: Float64Array;
  respondedAt: Float64Array;
  ok: Uint8Array;
  errors: Map<string, number>;
  /** How late the generator itself got behind the schedule at worst (ms): a busy harness shows here. */
  maxSendLagMs: number;
}

/**
 * Sends request i at `startedAt + schedule[i]` whatever happened to earlier ones (open loop). Each request
 * is stamped with its due time, not the time the event loop got round to it, so any delay in the
 * generator, the client pool or the server counts against the system (no coordinated omission).
 */
export async function runOpenLoop(
  schedule: number[],
  send: (index: number, dueAt: number) => Promise<SendOutcome>,
): Promise<OpenLoopResult> {
  const n = schedule.length;
  const dueAt = new Float64Array(n);
  const respondedAt = new Float64Array(n);
  const ok = new Uint8Array(n);
  const errors = new Map<string, number>();
  const startedAt = monotonicMs() + 5;
  let maxSendLagMs = 0;
  let next = 0;
  const inFlight: Array<Promise<void>> = [];

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = monotonicMs();
      while (next < n && startedAt + schedule[next]! <= now) {
        const index = next++;
        const due = startedAt + schedule[index]!;
        dueAt[index] = due;
        maxSendLagMs = Math.max(maxSendLagMs, now - due);
        inFlight.push(
          send(index, due).then(
            (outcome) => {
              respondedAt[index] = monotonicMs();
              ok[index] = outcome.ok ? 1 : 0;
              if (!outcome.ok) errors.set(outcome.error ?? 'error', (errors.get(outcome.error ?? 'error') ?? 0) + 1);
            },
            (error: unknown) => {
              respondedAt[index] = monotonicMs();
              const message = error instanceof Error ? error.message.slice(0, 160) : String(error);
              errors.set(message, (errors.get(message) ?? 0) + 1);
            },
          ),
        );
      }
      if (next >= n) return resolve();
      const wait = startedAt + schedule[next]! - monotonicMs();
      setTimeout(tick, Math.max(0, Math.min(wait, 2)));
    };
    setTimeout(tick, 5);
  });
  await Promise.all(inFlight);
  return { startedAt, dueAt, respondedAt, ok, errors, maxSendLagMs };
}
