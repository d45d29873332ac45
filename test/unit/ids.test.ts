import { describe, expect, it } from 'vitest';
import { IdPrefix, hasPrefix, newId } from '../../src/lib/ids';

const BODY = /^[0-9a-hjkmnp-tv-z]{26}$/;
const timePart = (id: string) => id.split('_')[1]!.slice(0, 10);

/** Decodes the 10-character Crockford base32 time part back to milliseconds. */
function decodeTime(id: string): number {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  return [...timePart(id)].reduce((value, char) => value * 32 + alphabet.indexOf(char), 0);
}

describe('newId', () => {
  it.each(Object.entries(IdPrefix))('creates %s ids with the "%s_" prefix and a 26-character body', (_kind, prefix) => {
    const id = newId(prefix);
    expect(id.startsWith(`${prefix}_`)).toBe(true);
    expect(id.slice(prefix.length + 1)).toMatch(BODY);
    expect(hasPrefix(id, prefix)).toBe(true);
  });

  it('encodes the creation time in the first 10 characters', () => {
    const now = Date.now() + 10_000;
    const id = newId('evt', now);
    expect(decodeTime(id)).toBe(now);
  });

  it('sorts ids created in later milliseconds after earlier ones', () => {
    const base = Date.now() + 20_000;
    const ids = [newId('evt', base), newId('evt', base + 1), newId('evt', base + 2), newId('evt', base + 1000)];
    expect([...ids].sort()).toEqual(ids);
  });

  it('is monotonic for many ids in the same millisecond', () => {
    const now = Date.now() + 30_000;
    const ids = Array.from({ length: 5000 }, () => newId('dlv', now));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids) expect(decodeTime(id)).toBe(now);
  });

  it('is monotonic for ids generated as fast as possible with the real clock', () => {
    const ids = Array.from({ length: 20_000 }, () => newId('att'));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('stays monotonic across prefixes and when the clock goes backwards', () => {
    const now = Date.now() + 40_000;
    const first = newId('evt', now);
    const second = newId('dlv', now - 5000);
    const third = newId('evt', now - 1);
    expect(second.slice(4) > first.slice(4)).toBe(true);
    expect(third.slice(4) > second.slice(4)).toBe(true);
    expect(decodeTime(second)).toBe(now);
  });

  it('increments the random part by one within a millisecond', () => {
    const now = Date.now() + 50_000;
    const a = newId('evt', now).slice(4);
    const b = newId('evt', now).slice(4);
    const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
    const value = (text: string) => [...text].reduce((acc, char) => acc * 32n + BigInt(alphabet.indexOf(char)), 0n);
    expect(value(b) - value(a)).toBe(1n);
  });

  it('uses fresh randomness in a new millisecond', () => {
    const now = Date.now() + 60_000;
    const randoms = new Set(Array.from({ length: 50 }, (_, i) => newId('evt', now + i).slice(14)));
    expect(randoms.size).toBe(50);
  });
});

describe('hasPrefix', () => {
  it('checks the prefix and the shape', () => {
    const id = newId('ep');
    expect(hasPrefix(id, 'ep')).toBe(true);
    expect(hasPrefix(id, 'evt')).toBe(false);
    expect(hasPrefix('ep_', 'ep')).toBe(false);
    expect(hasPrefix('ep_ABC', 'ep')).toBe(false);
    expect(hasPrefix('ep_abc-def', 'ep')).toBe(false);
    expect(hasPrefix('epx_abc', 'ep')).toBe(false);
    expect(hasPrefix(`ep_${'a'.repeat(65)}`, 'ep')).toBe(false);
    expect(hasPrefix('ep_abc', 'ep')).toBe(true);
    expect(hasPrefix('', 'ep')).toBe(false);
  });
});
