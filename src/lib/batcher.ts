/**
 * Coalesces concurrent calls into batches handled by one function, one batch at a time. Nothing waits
 * for a timer: the first item of an idle batcher is flushed on the next turn of the event loop (so every
 * caller that became ready in the same turn joins it), and items that arrive while a batch is being
 * handled form the next batch. Under light load a batch holds one item and adds no latency; under heavy
 * load batches grow by themselves, up to `maxSize`, and the cost per item falls.
 *
 * `handle` gets the items in arrival order and returns one result per item (a `Rejected` fails that
 * item's caller alone), or throws to fail the whole batch. A batch of several items that throws is retried
 * item by item, so one item that breaks the batch fails only its caller.
 */
export class Batcher<Item, Result> {
  private queue: { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }[] = [];
  private flushing = false;
  private scheduled = false;

  constructor(
    private readonly handle: (items: Item[]) => Promise<(Result | Rejected)[]>,
    private readonly maxSize = 256,
  ) {}

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    const batch = this.queue.splice(0, this.maxSize);
    try {
      await this.run(batch);
    } finally {
      this.flushing = false;
      if (this.queue.length > 0) this.schedule();
    }
  }

  private async run(batch: typeof this.queue): Promise<void> {
    try {
      const results = await this.handle(batch.map((entry) => entry.item));
      if (results.length !== batch.length) throw new Error(`batch handler returned ${results.length} results for ${batch.length} items`);
      batch.forEach((entry, index) => {
        const result = results[index]!;
        if (result instanceof Rejected) entry.reject(result.error);
        else entry.resolve(result);
      });
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      for (const entry of batch) await this.run([entry]);
    }
  }
}

/** A batch handler's answer for one item that failed on its own (the rest of the batch stands). */
export class Rejected {
  constructor(readonly error: unknown) {}
}
