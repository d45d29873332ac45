import { describe, expect, it } from 'vitest';
import { ErrorCode, HeraldError } from '../../src/lib/errors';
import { assertEventType, assertEventTypeFilters, matchesEventType } from '../../src/modules/events/event-type-pattern';

function caught(fn: () => unknown): HeraldError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HeraldError);
    return error as HeraldError;
  }
  throw new Error('expected a HeraldError');
}

describe('matchesEventType', () => {
  it('matches every type when there are no filters', () => {
    expect(matchesEventType([], 'order.created')).toBe(true);
    expect(matchesEventType([], 'x')).toBe(true);
  });

  it('matches exact types only, with no partial or case-insensitive matches', () => {
    expect(matchesEventType(['order.created'], 'order.created')).toBe(true);
    expect(matchesEventType(['order.created'], 'order.created.v2')).toBe(false);
    expect(matchesEventType(['order.created'], 'order.create')).toBe(false);
    expect(matchesEventType(['order.created'], 'xorder.created')).toBe(false);
    expect(matchesEventType(['order.created'], 'Order.Created')).toBe(false);
    expect(matchesEventType(['order'], 'order.created')).toBe(false);
  });

  it('matches any type with "*"', () => {
    for (const type of ['order.created', 'a', 'user:signed-up', 'x.y.z']) expect(matchesEventType(['*'], type)).toBe(true);
  });

  it('matches a prefix with "order.*"', () => {
    expect(matchesEventType(['order.*'], 'order.created')).toBe(true);
    expect(matchesEventType(['order.*'], 'order.line.added')).toBe(true);
    expect(matchesEventType(['order.*'], 'order.')).toBe(true);
    expect(matchesEventType(['order.*'], 'order')).toBe(false);
    expect(matchesEventType(['order.*'], 'orders.created')).toBe(false);
    expect(matchesEventType(['order.*'], 'reorder.created')).toBe(false);
    expect(matchesEventType(['order.*'], 'invoice.created')).toBe(false);
  });

  it('supports wildcards at the start, middle and several times', () => {
    expect(matchesEventType(['*.created'], 'order.created')).toBe(true);
    expect(matchesEventType(['*.created'], 'order.created.later')).toBe(false);
    expect(matchesEventType(['order.*.v2'], 'order.created.v2')).toBe(true);
    expect(matchesEventType(['order.*.v2'], 'order.created.v3')).toBe(false);
    expect(matchesEventType(['*.*'], 'a.b')).toBe(true);
    expect(matchesEventType(['*.*'], 'ab')).toBe(false);
    expect(matchesEventType(['a*b*c'], 'abc')).toBe(true);
    expect(matchesEventType(['a*b*c'], 'axxbyyc')).toBe(true);
    expect(matchesEventType(['a*b*c'], 'axxbyyd')).toBe(false);
    expect(matchesEventType(['a*b*c'], 'acb')).toBe(false);
    expect(matchesEventType(['**'], 'anything')).toBe(true);
    expect(matchesEventType(['a**'], 'a')).toBe(true);
    expect(matchesEventType(['*a'], 'aaa')).toBe(true);
    expect(matchesEventType(['*ab'], 'aab')).toBe(true);
    expect(matchesEventType(['*ab'], 'aba')).toBe(false);
  });

  it('matches when any one filter matches', () => {
    expect(matchesEventType(['invoice.*', 'order.created'], 'order.created')).toBe(true);
    expect(matchesEventType(['invoice.*', 'order.created'], 'invoice.paid')).toBe(true);
    expect(matchesEventType(['invoice.*', 'order.created'], 'order.deleted')).toBe(false);
  });

  it('treats "." and other regex metacharacters as literal characters', () => {
    expect(matchesEventType(['order.*'], 'orderXcreated')).toBe(false);
    expect(matchesEventType(['a.b'], 'aXb')).toBe(false);
    expect(matchesEventType(['a.b*'], 'aXbc')).toBe(false);
    expect(matchesEventType(['a.b*'], 'a.bc')).toBe(true);
    // These filters never pass validation, but matching must still be literal (no regex injection).
    expect(matchesEventType(['a+*'], 'aa')).toBe(false);
    expect(matchesEventType(['a+*'], 'a+x')).toBe(true);
    expect(matchesEventType(['(a|b)*'], 'a')).toBe(false);
    expect(matchesEventType(['(a|b)*'], '(a|b).x')).toBe(true);
    expect(matchesEventType(['[a-z]*'], 'q')).toBe(false);
    expect(matchesEventType(['[a-z]*'], '[a-z]')).toBe(true);
    expect(matchesEventType(['a?*'], 'a')).toBe(false);
    expect(matchesEventType(['^a$*'], '^a$')).toBe(true);
    expect(matchesEventType(['\\d*'], '1')).toBe(false);
    expect(matchesEventType(['\\d*'], '\\d1')).toBe(true);
    expect(matchesEventType(['a.b'], 'a.b')).toBe(true);
    expect(matchesEventType(['user:signed-up'], 'user:signed-up')).toBe(true);
    expect(matchesEventType(['user:*-up'], 'user:signed-up')).toBe(true);
  });

  it('matches quickly for adversarial filters that make a regex backtrack exponentially', () => {
    // A regex matcher (^a.*a.*…c$) needs seconds for this one and centuries for the next: fail fast on it first.
    const moderate = performance.now();
    expect(matchesEventType([`${'a*'.repeat(7)}c`], `${'a'.repeat(60)}b`)).toBe(false);
    expect(performance.now() - moderate).toBeLessThan(200);

    const filter = `${'a*'.repeat(60)}c`;
    expect(() => assertEventTypeFilters([filter])).not.toThrow();
    const type = `${'a'.repeat(127)}b`;
    const started = performance.now();
    expect(matchesEventType([filter], type)).toBe(false);
    expect(matchesEventType([filter], `${'a'.repeat(127)}c`)).toBe(true);
    expect(matchesEventType(['*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b'], 'a'.repeat(128))).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('assertEventType', () => {
  it.each(['order.created', 'a', 'A', '0', 'user:signed_up-v2', 'a'.repeat(128), 'x.y.z.w'])('accepts %s', (type) => {
    expect(() => assertEventType(type)).not.toThrow();
  });

  it.each(['', '.order', '-order', '_order', ':order', 'order created', 'order/created', 'order.*', '*', 'ordér', 'a'.repeat(129), 'a\n'])(
    'refuses %j with BAD_USER_INPUT',
    (type) => {
      const error = caught(() => assertEventType(type));
      expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
      expect(error.details).toEqual({ field: 'type' });
      expect(error.message).toMatch(/is not a valid event type/);
      expect(error.message).toMatch(/order\.created/);
    },
  );

  it('names the field given and truncates a long type in the message', () => {
    const error = caught(() => assertEventType(`${'b'.repeat(200)} x`, 'input.type'));
    expect(error.details).toEqual({ field: 'input.type' });
    expect(error.message).toContain(`"${'b'.repeat(60)}…"`);
    expect(error.message).not.toContain('b'.repeat(61));
  });
});

describe('assertEventTypeFilters', () => {
  it('accepts types, wildcards and an empty list', () => {
    expect(() => assertEventTypeFilters([])).not.toThrow();
    expect(() => assertEventTypeFilters(['*', 'order.*', '*.created', 'order.created', 'a*b*c', '**', 'user:*'])).not.toThrow();
    expect(() => assertEventTypeFilters(['a'.repeat(128)])).not.toThrow();
  });

  it.each(['', ' ', '.order', 'order created', 'order.(created)', 'order.+', 'a'.repeat(129), 'order/*', 'ordér.*'])(
    'refuses %j with BAD_USER_INPUT',
    (filter) => {
      const error = caught(() => assertEventTypeFilters(['order.created', filter]));
      expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
      expect(error.details).toEqual({ field: 'eventTypes' });
      expect(error.message).toMatch(/is not a valid event-type filter/);
      expect(error.message).toMatch(/"order\.\*"/);
    },
  );

  it('allows at most 100 filters', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => `type.${i}`);
    expect(() => assertEventTypeFilters(hundred)).not.toThrow();
    const error = caught(() => assertEventTypeFilters([...hundred, 'one.more'], 'input.eventTypes'));
    expect(error.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(error.message).toMatch(/at most 100/);
    expect(error.details).toEqual({ field: 'input.eventTypes' });
  });
});
