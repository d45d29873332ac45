import type { Socket } from 'node:net';
import {
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  Kind,
  OperationTypeNode,
  createSourceEventStream,
  execute,
  getOperationAST,
} from 'graphql';
import { SUBSCRIBER_BUFFER, subscriberTooSlow } from './pubsub';

/**
 * Field extension for subscriptions whose messages depend only on the operation, its variables and the
 * subscriber's tenant scope (no per-subscriber state such as timers or an initial push): subscribers that
 * agree on all three can share one execution per message.
 */
export const SHARED_FAN_OUT = 'sharedFanOut';

/** What a shared subscription writes to: the graphql-ws socket (a `ws` WebSocket). */
export interface SubscriberSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: Buffer, options: { binary: boolean }, callback: (error?: Error) => void): void;
}

/** One graphql-ws operation of one socket. */
export interface SubscriberConnection {
  /** The operation id the client chose; every message for it carries it. */
  id: string;
  socket: SubscriberSocket;
  /** The TCP socket under `socket`, corked while a turn of the event loop writes to it. */
  transport: Pick<Socket, 'cork' | 'uncork'>;
}

export interface SharedSubscriptionsOptions {
  /** A result as the client receives it (errors formatted like every other operation's). */
  format(result: ExecutionResult): FormattedExecutionResult;
  /** The context one message executes with, made from the context of the subscriber that opened the group. */
  contextForMessage(groupContext: unknown): unknown;
  /** Messages one subscriber may have waiting for its client before it is ended as too slow. */
  bufferSize?: number;
  /** Messages a group executes at once; they still go out in publish order. */
  maxInFlight?: number;
}

/**
 * Subscription fan-out shared between subscribers. graphql-ws runs a subscription once per subscriber:
 * each filters, executes and serialises every message on its own. Here subscribers of a shareable field
 * (SHARED_FAN_OUT) with the same document, variables and tenant scope form a group with one source stream
 * (so the filter runs once per message), one execution and one JSON serialisation per message; each member
 * then only frames the same bytes with its operation id. The scope is part of the key, so a group never
 * holds subscribers that may see different data.
 *
 * Members write to their socket directly (graphql-ws still owns the operation: subscribe, complete, errors),
 * and writes made in one turn of the event loop leave in one system call per socket. A member whose client
 * has more than `bufferSize` messages unwritten is ended with SUBSCRIBER_TOO_SLOW, alone; its group goes on.
 * A subscriber receives the messages its group executes after it joined.
 */
export class SharedSubscriptions {
  private readonly groups = new Map<string, GroupEntry>();
  private readonly settings: Required<SharedSubscriptionsOptions>;

  constructor(options: SharedSubscriptionsOptions) {
    this.settings = { ...options, bufferSize: options.bufferSize ?? SUBSCRIBER_BUFFER, maxInFlight: options.maxInFlight ?? 256 };
  }

  /** The key subscribers share an execution by, or null when the operation must run on its own. */
  keyOf(args: ExecutionArgs, scope: unknown, query: string): string | null {
    const operation = getOperationAST(args.document, args.operationName);
    if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) return null;
    const selections = operation.selectionSet.selections;
    const root = selections[0];
    if (selections.length !== 1 || root?.kind !== Kind.FIELD) return null;
    const field = args.schema.getSubscriptionType()?.getFields()[root.name.value];
    if (field?.extensions[SHARED_FAN_OUT] !== true) return null;
    return JSON.stringify([scope, query, args.operationName ?? null, args.variableValues ?? null]);
  }

  /**
   * Joins (or opens) the group for `key`. Returns the subscriber's operation for graphql-ws to hold (it
   * yields nothing: messages are written to the socket; it ends or fails with the subscription), or the
   * errors of a subscription that could not start, as graphql's `subscribe` would.
   */
  async subscribe(
    key: string,
    args: ExecutionArgs,
    connection: SubscriberConnection,
  ): Promise<AsyncIterableIterator<never> | ExecutionResult> {
    for (;;) {
      const entry = this.groups.get(key) ?? this.open(key, args);
      const group = await entry.ready;
      if (!(group instanceof SharedGroup)) return group;
      // A group whose last member left while this one waited has closed: open another.
      if (!group.closed) return group.join(connection);
    }
  }

  /** Groups and subscribers now (for tests and diagnostics). */
  stats(): { groups: number; subscribers: number } {
    let subscribers = 0;
    for (const entry of this.groups.values()) subscribers += entry.group?.size ?? 0;
    return { groups: this.groups.size, subscribers };
  }

  private open(key: string, args: ExecutionArgs): GroupEntry {
    const entry = { group: null } as unknown as GroupEntry;
    this.groups.set(key, entry);
    const forget = () => {
      if (this.groups.get(key) === entry) this.groups.delete(key);
    };
    entry.ready = (async () => {
      try {
        const source = await createSourceEventStream(args);
        if (!(Symbol.asyncIterator in Object(source))) {
          forget();
          return source as ExecutionResult;
        }
        const group = new SharedGroup(args, (source as AsyncIterable<unknown>)[Symbol.asyncIterator](), this.settings, forget);
        entry.group = group;
        void group.run();
        return group;
      } catch (error) {
        forget();
        throw error;
      }
    })();
    return entry;
  }
}

interface GroupEntry {
  ready: Promise<SharedGroup | ExecutionResult>;
  group: SharedGroup | null;
}

type Outcome = { result: ExecutionResult } | { error: unknown };

class SharedGroup {
  closed = false;
  private readonly members = new Set<SharedSubscriber>();
  /** Messages taken from the source so far; a member receives those numbered after its join. */
  private pulled = 0;
  private failure: { error: unknown } | null = null;

  constructor(
    private readonly args: ExecutionArgs,
    private readonly source: AsyncIterator<unknown>,
    private readonly settings: Required<SharedSubscriptionsOptions>,
    private readonly forget: () => void,
  ) {}

  get size(): number {
    return this.members.size;
  }

  join(connection: SubscriberConnection): SharedSubscriber {
    const member: SharedSubscriber = new SharedSubscriber(connection, this.pulled, this.settings.bufferSize, () => this.leave(member));
    this.members.add(member);
    return member;
  }

  /** Takes messages as they come and executes several at once (each waits on the database); sends in order. */
  async run(): Promise<void> {
    let sent: Promise<void> = Promise.resolve();
    let executing = 0;
    try {
      while (!this.closed) {
        if (executing >= this.settings.maxInFlight) await sent;
        const next = await this.source.next();
        if (next.done || this.closed) break;
        const seq = ++this.pulled;
        executing++;
        const outcome = this.execute(next.value);
        sent = sent.then(async () => {
          const settled = await outcome;
          executing--;
          if ('error' in settled) this.fail(settled.error);
          else this.deliver(seq, settled.result);
        });
      }
    } catch (error) {
      // The source failed (this process's queue for the group overflowed, or the stream broke): what
      // was executed before still goes out first.
      await sent;
      this.fail(error);
    }
    await sent;
    this.close();
    for (const member of [...this.members]) member.end();
  }

  private execute(payload: unknown): Promise<Outcome> {
    try {
      const contextValue = this.settings.contextForMessage(this.args.contextValue);
      return Promise.resolve(execute({ ...this.args, rootValue: payload, contextValue })).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
    } catch (error) {
      return Promise.resolve({ error });
    }
  }

  private deliver(seq: number, result: ExecutionResult): void {
    if (this.failure) return;
    let payload: Buffer;
    try {
      payload = Buffer.from(JSON.stringify(this.settings.format(result)));
    } catch (error) {
      this.fail(error);
      return;
    }
    for (const member of this.members) if (seq > member.joinedAfter) member.send(payload);
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = { error };
    this.close();
    for (const member of [...this.members]) member.fail(error);
  }

  private leave(member: SharedSubscriber): void {
    if (this.members.delete(member) && this.members.size === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    void this.source.return?.();
  }
}

const CLOSE = Buffer.from('}');
const TEXT_FRAME = { binary: false };

/** One subscriber's operation as graphql-ws holds it: it never yields, and settles when the subscription ends. */
class SharedSubscriber implements AsyncIterableIterator<never> {
  private unwritten = 0;
  private ended = false;
  private failure: { error: unknown } | null = null;
  private waiting: { resolve: (result: IteratorResult<never>) => void; reject: (error: unknown) => void } | null = null;
  private readonly prefix: Buffer;
  private readonly written = (): void => {
    this.unwritten--;
  };

  constructor(
    private readonly connection: SubscriberConnection,
    readonly joinedAfter: number,
    private readonly limit: number,
    private readonly leave: () => void,
  ) {
    // The same bytes graphql-ws would send: {"id":…,"type":"next","payload":…}.
    this.prefix = Buffer.from(`{"id":${JSON.stringify(connection.id)},"type":"next","payload":`);
  }

  send(payload: Buffer): void {
    const { socket, transport } = this.connection;
    if (this.ended || socket.readyState !== socket.OPEN) return;
    if (this.unwritten >= this.limit) {
      // What was written before still reaches the client first; then graphql-ws sends the error.
      this.fail(subscriberTooSlow(this.limit));
      return;
    }
    this.unwritten++;
    corkForThisTurn(transport);
    socket.send(Buffer.concat([this.prefix, payload, CLOSE]), TEXT_FRAME, this.written);
  }

  fail(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.leave();
    if (this.waiting) this.waiting.reject(error);
    else this.failure = { error };
    this.waiting = null;
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.leave();
    this.waiting?.resolve({ value: undefined as never, done: true });
    this.waiting = null;
  }

  next(): Promise<IteratorResult<never>> {
    if (this.failure) {
      const { error } = this.failure;
      this.failure = null;
      return Promise.reject(error);
    }
    if (this.ended) return Promise.resolve({ value: undefined as never, done: true });
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<never>> {
    this.failure = null;
    this.end();
    return Promise.resolve({ value: undefined as never, done: true });
  }

  throw(error: unknown): Promise<IteratorResult<never>> {
    this.failure = null;
    this.end();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<never> {
    return this;
  }
}

/**
 * Sockets written to in this turn of the event loop stay corked until its end, so the messages a burst of
 * notifications produces for one socket leave in one write instead of one each.
 */
const corked = new Set<Pick<Socket, 'cork' | 'uncork'>>();

function corkForThisTurn(transport: Pick<Socket, 'cork' | 'uncork'>): void {
  if (corked.has(transport)) return;
  if (corked.size === 0) process.nextTick(uncorkAll);
  transport.cork();
  corked.add(transport);
}

function uncorkAll(): void {
  const sockets = [...corked];
  corked.clear();
  for (const socket of sockets) socket.uncork();
}
