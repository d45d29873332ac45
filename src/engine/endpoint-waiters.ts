/**
 * A worker process's own view of its endpoint slots, so that a delivery finding its endpoint full can wait a
 * moment in memory for a slot this process is about to free, instead of parking. Parking costs a write, a
 * wake-up, a new job and a second load; under a steady stream to one fast endpoint (more worker slots than
 * endpoint slots) every other delivery would park once. PostgreSQL still decides every admission: a waiter
 * that is handed a free slot asks again, and parks if another delivery took it first.
 *
 * Waiting holds a worker slot, so it is bounded three ways: at most one waiter per delivery this process has
 * in flight to the endpoint (each can free one slot), only while the expected wait (the waiters ahead, times
 * the average time this process's deliveries hold a slot, divided by the slots it holds) is under `maxWaitMs`
 * (a slow endpoint's deliveries park at once, as before: they must not tie up the worker), and never longer
 * than `maxWaitMs`.
 */
export class EndpointWaiters {
  private readonly endpoints = new Map<string, EndpointState>();

  constructor(
    private readonly maxWaitMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Claims a place to wait for a slot of the endpoint, or false when the delivery should park. A claim must be
   * ended by `wait` or `unclaim`.
   */
  claim(endpointId: string): boolean {
    if (this.maxWaitMs <= 0) return false;
    const state = this.endpoints.get(endpointId);
    if (!state || state.claims >= state.inFlight) return false;
    // Slots free up about every averageHold / inFlight: the new waiter's turn comes after those ahead of it.
    if (state.averageHoldMs !== null && ((state.claims + 1) * state.averageHoldMs) / state.inFlight > this.maxWaitMs) return false;
    state.claims += 1;
    return true;
  }

  unclaim(endpointId: string): void {
    const state = this.endpoints.get(endpointId);
    if (state) state.claims = Math.max(0, state.claims - 1);
    this.forgetIfIdle(endpointId);
  }

  /** Waits (with a claim) until this process frees a slot of the endpoint, or `maxWaitMs` passes. */
  wait(endpointId: string): Promise<void> {
    const state = this.endpoints.get(endpointId);
    if (!state) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        resolve: () => {
          clearTimeout(waiter.timer);
          state.queue.delete(waiter);
          state.claims = Math.max(0, state.claims - 1);
          this.forgetIfIdle(endpointId);
          resolve();
        },
        timer: setTimeout(() => waiter.resolve(), this.maxWaitMs),
      };
      state.queue.add(waiter);
    });
  }

  /** A delivery of this process took a slot of the endpoint; returns the function that reports its release. */
  admitted(endpointId: string): () => void {
    let state = this.endpoints.get(endpointId);
    if (!state) {
      state = { inFlight: 0, claims: 0, averageHoldMs: null, queue: new Set() };
      this.endpoints.set(endpointId, state);
    }
    const current = state;
    current.inFlight += 1;
    const started = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const held = this.now() - started;
      current.averageHoldMs = current.averageHoldMs === null ? held : current.averageHoldMs * 0.8 + held * 0.2;
      current.inFlight -= 1;
      // The oldest waiter asks for the freed slot.
      const next = current.queue.values().next();
      if (!next.done) next.value.resolve();
      this.forgetIfIdle(endpointId);
    };
  }

  private forgetIfIdle(endpointId: string): void {
    const state = this.endpoints.get(endpointId);
    // The average hold is kept while anything is in flight; an idle endpoint starts afresh.
    if (state && state.inFlight === 0 && state.claims === 0 && state.queue.size === 0) this.endpoints.delete(endpointId);
  }
}

interface EndpointState {
  /** Deliveries of this process holding a slot of the endpoint. */
  inFlight: number;
  /** Deliveries of this process waiting (or about to wait) for one of those slots. */
  claims: number;
  /** Moving average of how long this process's deliveries held a slot (ms); null before the first release. */
  averageHoldMs: number | null;
  queue: Set<{ resolve: () => void; timer: ReturnType<typeof setTimeout> }>;
}
