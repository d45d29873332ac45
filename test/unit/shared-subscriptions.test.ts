import { filter, pipe } from '@graphql-yoga/subscription';
import { type ExecutionArgs, type ExecutionResult, GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type EventChange, Topic, createHeraldPubSub } from '../../src/graphql/pubsub';
import { SHARED_FAN_OUT, SharedSubscriptions, type SubscriberConnection } from '../../src/graphql/shared-subscriptions';
import { ErrorCode, HeraldError } from '../../src/lib/errors';

/** A `ws` socket stand-in: keeps every frame; the client "reads" a frame when its write callback runs. */
class FakeSocket {
  readonly OPEN = 1;
  readyState = 1;
  readonly frames: string[] = [];
  private readonly unread: Array<() => void> = [];

  constructor(private readonly reading = true) {}

  send(data: Buffer, options: { binary: boolean }, callback: (error?: Error) => void): void {
    expect(options.binary).toBe(false);
    this.frames.push(data.toString('utf8'));
    if (this.reading) setImmediate(callback);
    else this.unread.push(() => callback());
  }

  payloads(): unknown[] {
    return this.frames.map((frame) => (JSON.parse(frame) as { payload: unknown }).payload);
  }
}

class FakeTransport {
  corks = 0;
  uncorks = 0;
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.uncorks++;
  }
}

interface TestContext {
  /** The tenant scope: the stream keeps this application's messages only. */
  app: string | null;
}

const change = (n: number, app: string, type = 'order.created'): EventChange => ({
  kind: 'event',
  eventId: `evt_${n}`,
  applicationId: app,
  type,
});

function setup(options: { bufferSize?: number } = {}) {
  const pubSub = createHeraldPubSub(1000);
  const executions: string[] = [];
  const sourcesOpen = { count: 0 };
  const Message = new GraphQLObjectType({
    name: 'Message',
    fields: { id: { type: GraphQLString }, app: { type: GraphQLString }, n: { type: GraphQLInt } },
  });
  const streamOf = (args: { type?: string | null }, context: TestContext) => {
    sourcesOpen.count++;
    const source = pubSub.subscribe(Topic.EVENT);
    const close = source.return!.bind(source);
    source.return = () => {
      sourcesOpen.count--;
      return close();
    };
    // The filter runs before anything executes, as type-graphql's does.
    return pipe(
      source,
      filter(
        (payload: EventChange) =>
          (context.app === null || payload.applicationId === context.app) && (!args.type || payload.type === args.type),
      ),
    );
  };
  const resolve = (payload: EventChange) => {
    executions.push(payload.eventId);
    if (payload.type === 'boom') throw new HeraldError(ErrorCode.NOT_FOUND, `No event with id "${payload.eventId}" exists.`);
    return { id: payload.eventId, app: payload.applicationId, n: Number(payload.eventId.slice(4)) };
  };
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        shared: {
          type: Message,
          args: { type: { type: GraphQLString } },
          extensions: { [SHARED_FAN_OUT]: true },
          subscribe: (_root, args: { type?: string }, context: TestContext) => {
            if (args.type === 'refused') throw new HeraldError(ErrorCode.BAD_USER_INPUT, 'refused at subscribe');
            return streamOf(args, context);
          },
          resolve,
        },
        alone: { type: Message, subscribe: (_root, args, context: TestContext) => streamOf(args, context), resolve },
      },
    }),
  });
  const shared = new SharedSubscriptions({
    format: (result: ExecutionResult) =>
      result.errors
        ? {
            ...result,
            errors: result.errors.map((error) => ({ message: error.message, path: error.path, extensions: { code: 'FORMATTED' } })),
          }
        : result,
    contextForMessage: (context) => ({ ...(context as TestContext), perMessage: true }),
    bufferSize: options.bufferSize,
  });
  let nextId = 0;
  /** One client's operation, as the server's onSubscribe and subscribe hooks hand it over. */
  const subscribe = async (query: string, scope: string | null, variables?: Record<string, unknown>, socket = new FakeSocket()) => {
    const args: ExecutionArgs = {
      schema,
      document: parse(query),
      variableValues: variables,
      contextValue: { app: scope } satisfies TestContext,
    };
    const key = shared.keyOf(args, { applicationId: scope }, query);
    if (!key) throw new Error('not shareable');
    const transport = new FakeTransport();
    const connection: SubscriberConnection = { id: `op-${++nextId}`, socket, transport };
    const operation = await shared.subscribe(key, args, connection);
    if (!(Symbol.asyncIterator in operation)) return { socket, transport, connection, errors: operation.errors, operation: null };
    const iterator = operation as AsyncIterableIterator<never>;
    // graphql-ws waits on the operation until it ends: keep its outcome.
    const outcome = iterator.next().then(
      (result) => ({ done: result.done }),
      (error: unknown) => ({ error }),
    );
    return { socket, transport, connection, operation: iterator, outcome, errors: undefined };
  };
  return { pubSub, shared, subscribe, executions, sourcesOpen, schema };
}

const SHARED = 'subscription Orders { shared { id app n } }';

afterEach(() => {
  vi.useRealTimers();
});

describe('shared subscription fan-out', () => {
  it('executes and serialises each message once for all subscribers with the same operation and scope, framing it as graphql-ws would', async () => {
    const { pubSub, shared, subscribe, executions } = setup();
    const members = [await subscribe(SHARED, 'app_a'), await subscribe(SHARED, 'app_a'), await subscribe(SHARED, 'app_a')];
    expect(shared.stats()).toEqual({ groups: 1, subscribers: 3 });
    for (let n = 1; n <= 5; n++) pubSub.publish(Topic.EVENT, change(n, 'app_a'));
    await vi.waitFor(() => members.forEach((member) => expect(member.socket.frames).toHaveLength(5)));
    expect(executions).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5']);
    for (const member of members) {
      expect(member.socket.frames).toEqual(
        [1, 2, 3, 4, 5].map((n) =>
          JSON.stringify({ id: member.connection.id, type: 'next', payload: { data: { shared: { id: `evt_${n}`, app: 'app_a', n } } } }),
        ),
      );
    }
  });

  it('never shares between scopes or variables: each subscriber gets exactly the messages its own filter lets through', async () => {
    const { pubSub, shared, subscribe, executions } = setup();
    const a = [await subscribe(SHARED, 'app_a'), await subscribe(SHARED, 'app_a')];
    const b = [await subscribe(SHARED, 'app_b'), await subscribe(SHARED, 'app_b')];
    const admin = await subscribe(SHARED, null);
    const typed = 'subscription Typed($type: String) { shared(type: $type) { id app n } }';
    const aPaid = await subscribe(typed, 'app_a', { type: 'order.paid' });
    const bPaid = await subscribe(typed, 'app_b', { type: 'order.paid' });
    expect(shared.stats()).toEqual({ groups: 5, subscribers: 7 });
    const published = [
      change(1, 'app_a'),
      change(2, 'app_b', 'order.paid'),
      change(3, 'app_a', 'order.paid'),
      change(4, 'app_b'),
      change(5, 'app_a'),
    ];
    for (const message of published) pubSub.publish(Topic.EVENT, message);
    const ids = (member: { socket: FakeSocket }) =>
      member.socket.payloads().map((payload) => (payload as { data: { shared: { id: string } } }).data.shared.id);
    await vi.waitFor(() => expect(ids(admin)).toHaveLength(5));
    await vi.waitFor(() => expect(ids(a[1]!)).toHaveLength(3));
    for (const member of a) expect(ids(member)).toEqual(['evt_1', 'evt_3', 'evt_5']);
    for (const member of b) expect(ids(member)).toEqual(['evt_2', 'evt_4']);
    expect(ids(admin)).toEqual(['evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5']);
    await vi.waitFor(() => expect(ids(bPaid)).toEqual(['evt_2']));
    expect(ids(aPaid)).toEqual(['evt_3']);
    // Once per group and message that passed the group's filter: a 3, b 2, admin 5, the typed groups 1 each.
    expect(executions).toHaveLength(12);
  });

  it('sends the same formatted errors to every member when a message fails to execute, and goes on', async () => {
    const { pubSub, subscribe, executions } = setup();
    const members = [await subscribe(SHARED, 'app_a'), await subscribe(SHARED, 'app_a')];
    pubSub.publish(Topic.EVENT, change(1, 'app_a', 'boom'));
    pubSub.publish(Topic.EVENT, change(2, 'app_a'));
    await vi.waitFor(() => members.forEach((member) => expect(member.socket.frames).toHaveLength(2)));
    expect(executions).toEqual(['evt_1', 'evt_2']);
    for (const member of members) {
      expect(member.socket.payloads()).toEqual([
        {
          errors: [{ message: 'No event with id "evt_1" exists.', path: ['shared'], extensions: { code: 'FORMATTED' } }],
          data: { shared: null },
        },
        { data: { shared: { id: 'evt_2', app: 'app_a', n: 2 } } },
      ]);
    }
  });

  it('ends a member whose client fell behind with SUBSCRIBER_TOO_SLOW after what it was sent, while the others go on', async () => {
    const { pubSub, shared, subscribe } = setup({ bufferSize: 3 });
    const slow = await subscribe(SHARED, 'app_a', undefined, new FakeSocket(false));
    const fast = await subscribe(SHARED, 'app_a');
    // One message at a time: the fast client has read each before the next (a burst larger than the buffer
    // within one turn of the event loop would overflow any client).
    for (let n = 1; n <= 10; n++) {
      pubSub.publish(Topic.EVENT, change(n, 'app_a'));
      await vi.waitFor(() => expect(fast.socket.frames).toHaveLength(n));
    }
    const outcome = (await slow.outcome) as { error: unknown };
    expect(outcome.error).toBeInstanceOf(HeraldError);
    expect((outcome.error as HeraldError).code).toBe('SUBSCRIBER_TOO_SLOW');
    expect(slow.socket.frames).toHaveLength(3);
    expect(await slow.operation!.next()).toEqual({ value: undefined, done: true });
    expect(shared.stats()).toEqual({ groups: 1, subscribers: 1 });
    pubSub.publish(Topic.EVENT, change(11, 'app_a'));
    await vi.waitFor(() => expect(fast.socket.frames).toHaveLength(11));
    expect(slow.socket.frames).toHaveLength(3);
  });

  it('sends a member only what its group executes after it joined, stops at its end, and closes the source with the last member', async () => {
    const { pubSub, shared, subscribe, sourcesOpen } = setup();
    const first = await subscribe(SHARED, 'app_a');
    pubSub.publish(Topic.EVENT, change(1, 'app_a'));
    await vi.waitFor(() => expect(first.socket.frames).toHaveLength(1));
    const second = await subscribe(SHARED, 'app_a');
    pubSub.publish(Topic.EVENT, change(2, 'app_a'));
    await vi.waitFor(() => expect(second.socket.frames).toHaveLength(1));
    expect(first.socket.frames).toHaveLength(2);

    expect(await first.operation!.return!()).toEqual({ value: undefined, done: true });
    expect(await first.outcome).toEqual({ done: true });
    pubSub.publish(Topic.EVENT, change(3, 'app_a'));
    await vi.waitFor(() => expect(second.socket.frames).toHaveLength(2));
    expect(first.socket.frames).toHaveLength(2);
    expect(sourcesOpen.count).toBe(1);

    await second.operation!.return!();
    expect(shared.stats()).toEqual({ groups: 0, subscribers: 0 });
    await vi.waitFor(() => expect(sourcesOpen.count).toBe(0));
    // A new subscriber opens a new group, with its own source.
    const third = await subscribe(SHARED, 'app_a');
    pubSub.publish(Topic.EVENT, change(4, 'app_a'));
    await vi.waitFor(() => expect(third.socket.frames).toHaveLength(1));
    expect(sourcesOpen.count).toBe(1);
  });

  it('answers a subscription that cannot start with its errors, as graphql would, and keeps no group', async () => {
    const { shared, subscribe } = setup();
    const refused = await subscribe('subscription { shared(type: "refused") { id } }', 'app_a');
    expect(refused.operation).toBeNull();
    expect(refused.errors?.map((error) => error.message)).toEqual(['refused at subscribe']);
    expect(shared.stats()).toEqual({ groups: 0, subscribers: 0 });
  });

  it('writes the messages of one turn of the event loop to a socket under one cork', async () => {
    const { pubSub, subscribe } = setup();
    const member = await subscribe(SHARED, 'app_a');
    for (let n = 1; n <= 3; n++) pubSub.publish(Topic.EVENT, change(n, 'app_a'));
    await vi.waitFor(() => expect(member.socket.frames).toHaveLength(3));
    expect(member.transport).toMatchObject({ corks: 1, uncorks: 1 });
  });

  it('skips a socket that is no longer open', async () => {
    const { pubSub, subscribe } = setup();
    const closed = await subscribe(SHARED, 'app_a');
    const open = await subscribe(SHARED, 'app_a');
    closed.socket.readyState = 3;
    pubSub.publish(Topic.EVENT, change(1, 'app_a'));
    await vi.waitFor(() => expect(open.socket.frames).toHaveLength(1));
    expect(closed.socket.frames).toHaveLength(0);
  });

  it('shares only subscriptions marked shareable, with one root field', () => {
    const { shared, schema } = setup();
    const key = (query: string) => shared.keyOf({ schema, document: parse(query) }, { applicationId: null }, query);
    expect(key(SHARED)).not.toBeNull();
    expect(key('subscription { alone { id } }')).toBeNull();
    expect(key('query { ok }')).toBeNull();
    expect(key('subscription { ...Root } fragment Root on Subscription { shared { id } }')).toBeNull();
    // The scope is part of the key.
    const document = parse(SHARED);
    expect(shared.keyOf({ schema, document }, { applicationId: 'app_a' }, SHARED)).not.toEqual(
      shared.keyOf({ schema, document }, { applicationId: 'app_b' }, SHARED),
    );
  });
});
