import type { ChangeMessage } from '../../db/sql';

type DeliveryChange = Extract<ChangeMessage, { kind: 'delivery' }>;

/** Where the process hears of delivery changes; the API's pub/sub (src/graphql/pubsub.ts) is one. */
export interface DeliveryChangeSource {
  subscribe(topic: 'DELIVERY_CHANGED'): AsyncIterableIterator<DeliveryChange>;
}

export interface MetricsTriggerOptions {
  pubSub: DeliveryChangeSource;
  /** Whether a delivery change concerns the subscriber's scope. */
  matches(change: DeliveryChange): boolean;
  /** A push at least this often, changes or not. */
  intervalMs: number;
  /** At most one push per this many milliseconds, however many deliveries change. */
  minGapMs: number;
}

/**
 * When a metrics subscriber should get fresh metrics: at once, then every interval and soon after any
 * delivery change in its scope, throttled so a busy system costs one query per gap, not one per change.
 * Yields the time of each push.
 */
export function metricsTriggers(options: MetricsTriggerOptions): AsyncIterableIterator<number> {
  let dirty = true;
  let closed = false;
  let lastPush = 0;
  let wake: (() => void) | null = null;
  const signal = () => {
    dirty = true;
    wake?.();
  };
  const timer = setInterval(signal, options.intervalMs);
  const changes = options.pubSub.subscribe('DELIVERY_CHANGED');
  void (async () => {
    for await (const change of changes) {
      if (closed) break;
      if (options.matches(change)) signal();
    }
  })();
  const close = async () => {
    closed = true;
    clearInterval(timer);
    wake?.();
    await changes.return?.();
  };

  const iterator: AsyncIterableIterator<number> = {
    async next() {
      while (!closed) {
        if (dirty) {
          const wait = lastPush + options.minGapMs - Date.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          if (closed) break;
          dirty = false;
          lastPush = Date.now();
          return { value: lastPush, done: false };
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      return { value: undefined, done: true };
    },
    async return() {
      await close();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
