import type { ChangeMessage } from '../db/sql';
import { ErrorCode, HeraldError } from '../lib/errors';

export const Topic = {
  DELIVERY: 'DELIVERY_CHANGED',
  EVENT: 'EVENT_PUBLISHED',
  ENDPOINT: 'ENDPOINT_STATUS_CHANGED',
  REPLAY: 'REPLAY_UPDATED',
} as const;

export type DeliveryChange = Extract<ChangeMessage, { kind: 'delivery' }>;
export type EventChange = Extract<ChangeMessage, { kind: 'event' }>;
export type EndpointChange = Extract<ChangeMessage, { kind: 'endpoint' }>;
export type ReplayChange = Extract<ChangeMessage, { kind: 'replay' }>;

interface TopicPayloads {
  [Topic.DELIVERY]: DeliveryChange;
  [Topic.EVENT]: EventChange;
  [Topic.ENDPOINT]: EndpointChange;
  [Topic.REPLAY]: ReplayChange;
}
type TopicName = keyof TopicPayloads;

/** Messages one subscription may have waiting for its client before it counts as too slow. */
export const SUBSCRIBER_BUFFER = 2000;

/**
 * In-process fan-out to subscription operations; fed only by the LISTEN/NOTIFY change feed. Each
 * subscription has a bounded queue: one whose client reads more slowly than messages come is ended with
 * SUBSCRIBER_TOO_SLOW instead of holding memory without bound. (The library pub/sub used before threw out of
 * the publisher when a reader fell 1,024 messages behind, which took the whole process down.)
 */
export function createHeraldPubSub(bufferSize = SUBSCRIBER_BUFFER) {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  return {
    publish<K extends TopicName>(topic: K, payload: TopicPayloads[K]): void {
      for (const listener of listeners.get(topic) ?? []) listener(payload);
    },
    subscribe<K extends TopicName>(topic: K): AsyncIterableIterator<TopicPayloads[K]> {
      let topicListeners = listeners.get(topic);
      if (!topicListeners) listeners.set(topic, (topicListeners = new Set()));
      return boundedStream<TopicPayloads[K]>(bufferSize, (listener) => {
        topicListeners.add(listener as (payload: unknown) => void);
        return () => topicListeners.delete(listener as (payload: unknown) => void);
      });
    },
  };
}
export type HeraldPubSub = ReturnType<typeof createHeraldPubSub>;

/**
 * Work shared by every subscriber of one message: each subscriber receives the same message object, so a load
 * keyed on it runs once however many subscribers resolve it (and is dropped with the message).
 */
export function sharedPerMessage<Message extends object, Value>(): (message: Message, load: () => Promise<Value>) => Promise<Value> {
  const loads = new WeakMap<Message, Promise<Value>>();
  return (message, load) => {
    let value = loads.get(message);
    if (!value) {
      value = load();
      loads.set(message, value);
    }
    return value;
  };
}

/** The error that ends a subscription whose client fell `limit` messages behind. */
export function subscriberTooSlow(limit: number): HeraldError {
  return new HeraldError(
    ErrorCode.SUBSCRIBER_TOO_SLOW,
    `This subscription fell ${limit} messages behind (its client reads more slowly than messages arrive) and was ended: subscribe again, and read what was missed with a query.`,
  );
}

/** An async iterator over pushed values with at most `limit` waiting; past that it fails and unsubscribes. */
function boundedStream<T>(limit: number, subscribe: (listener: (value: T) => void) => () => void): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let waiting: ((result: IteratorResult<T>) => void) | null = null;
  let failure: HeraldError | null = null;
  let done = false;
  const unsubscribe = subscribe((value) => {
    if (done || failure) return;
    if (waiting) {
      const resolve = waiting;
      waiting = null;
      resolve({ value, done: false });
    } else if (queue.length < limit) {
      queue.push(value);
    } else {
      failure = subscriberTooSlow(limit);
      // What was queued is still delivered first; then the error ends the subscription.
      unsubscribe();
    }
  });
  const finish = (): IteratorResult<T> => {
    done = true;
    queue.length = 0;
    unsubscribe();
    if (waiting) waiting({ value: undefined, done: true });
    waiting = null;
    return { value: undefined, done: true };
  };
  return {
    next(): Promise<IteratorResult<T>> {
      if (queue.length > 0) return Promise.resolve({ value: queue.shift()!, done: false });
      if (failure) {
        const error = failure;
        failure = null;
        finish();
        return Promise.reject(error);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => {
        waiting = resolve;
      });
    },
    return(): Promise<IteratorResult<T>> {
      return Promise.resolve(finish());
    },
    throw(error: unknown): Promise<IteratorResult<T>> {
      finish();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
