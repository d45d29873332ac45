import { describe, expect, it } from 'vitest';
import { Topic, createHeraldPubSub } from '../../src/graphql/pubsub';
import { HeraldError } from '../../src/lib/errors';

const change = (n: number) => ({ kind: 'event' as const, eventId: `evt_${n}`, applicationId: 'app_1', type: 'order.created' });

describe('Herald pub/sub', () => {
  it('delivers each message to every subscriber of its topic, in order', async () => {
    const pubSub = createHeraldPubSub(10);
    const first = pubSub.subscribe(Topic.EVENT);
    const second = pubSub.subscribe(Topic.EVENT);
    const other = pubSub.subscribe(Topic.DELIVERY);
    for (let n = 0; n < 3; n++) pubSub.publish(Topic.EVENT, change(n));
    for (const subscriber of [first, second]) {
      const ids = [];
      for (let n = 0; n < 3; n++) ids.push((await subscriber.next()).value?.eventId);
      expect(ids).toEqual(['evt_0', 'evt_1', 'evt_2']);
    }
    const pending = other.next();
    pubSub.publish(Topic.DELIVERY, {
      kind: 'delivery',
      deliveryId: 'dlv_1',
      eventId: 'evt_1',
      endpointId: 'ep_1',
      applicationId: 'app_1',
      status: 'SUCCEEDED',
      attempt: 1,
    });
    expect((await pending).value?.deliveryId).toBe('dlv_1');
  });

  it('ends a subscriber that falls behind with SUBSCRIBER_TOO_SLOW, without throwing at the publisher or slowing others', async () => {
    const pubSub = createHeraldPubSub(5);
    const slow = pubSub.subscribe(Topic.EVENT);
    const fast = pubSub.subscribe(Topic.EVENT);
    const fastIds: string[] = [];
    for (let n = 0; n < 20; n++) {
      expect(() => pubSub.publish(Topic.EVENT, change(n))).not.toThrow();
      fastIds.push((await fast.next()).value!.eventId);
    }
    expect(fastIds).toHaveLength(20);
    // The slow reader still gets what was queued before it overflowed, then the error, then the end.
    const queued = [];
    for (let n = 0; n < 5; n++) queued.push((await slow.next()).value?.eventId);
    expect(queued).toEqual(['evt_0', 'evt_1', 'evt_2', 'evt_3', 'evt_4']);
    const failure = await slow.next().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(HeraldError);
    expect((failure as HeraldError).code).toBe('SUBSCRIBER_TOO_SLOW');
    expect(await slow.next()).toEqual({ value: undefined, done: true });
  });

  it('stops delivering to a subscription its client ended', async () => {
    const pubSub = createHeraldPubSub(5);
    const subscriber = pubSub.subscribe(Topic.EVENT);
    const pending = subscriber.next();
    await subscriber.return!();
    expect(await pending).toEqual({ value: undefined, done: true });
    pubSub.publish(Topic.EVENT, change(1));
    expect(await subscriber.next()).toEqual({ value: undefined, done: true });
  });
});
