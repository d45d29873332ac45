/**
 * A counting semaphore, first come first served, whose waits end after a deadline. It bounds what a worker process
 * has in flight when one job carries several attempts: graphile-worker counts jobs, not attempts.
 */
export class AttemptSlots {
  private free: number;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`AttemptSlots needs a size of at least 1, not ${size}`);
    this.free = size;
  }

  get inUse(): number {
    return this.size - this.free;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves to the function that frees the slot taken, or to null when no slot freed up within `timeoutMs` (the
   * waiter has then left the queue): the caller can do what a long wait needs, such as renewing its job's lock, and ask
   * again.
   */
  acquire(timeoutMs: number): Promise<(() => void) | null> {
    if (this.free > 0 && this.waiting.length === 0) {
      this.free -= 1;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve(this.releaser());
        },
      };
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(null);
      }, timeoutMs);
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the oldest waiter.
      if (next) next.grant();
      else this.free += 1;
    };
  }
}
