import { describe, expect, it } from 'vitest';
import { ApiKeyKind } from '../../src/modules/api-keys/api-key.entity';
import { type VerifiedKey, VerifiedKeyCache } from '../../src/modules/api-keys/verified-key-cache';

const key = (keyId: string): VerifiedKey => ({
  principal: { keyId, name: keyId, kind: ApiKeyKind.ADMIN, applicationId: null },
  expiresAt: null,
  lastUsedAt: null,
});

describe('VerifiedKeyCache', () => {
  it('keeps nothing until changes are heard, and forgets everything when they stop being heard', () => {
    const cache = new VerifiedKeyCache(10_000);
    cache.remember('h1', key('k1'), cache.version());
    expect(cache.lookup('h1')).toBeUndefined();
    cache.setChangesHeard(true);
    cache.remember('h1', key('k1'), cache.version());
    expect(cache.lookup('h1')?.principal.keyId).toBe('k1');
    cache.setChangesHeard(false);
    expect(cache.lookup('h1')).toBeUndefined();
    cache.remember('h1', key('k1'), cache.version());
    expect(cache.lookup('h1')).toBeUndefined();
  });

  it('does not remember a lookup that raced with an eviction', () => {
    const cache = new VerifiedKeyCache(10_000);
    cache.setChangesHeard(true);
    const before = cache.version();
    cache.evict('k1'); // the revocation's notification arrives while the lookup is in flight
    cache.remember('h1', key('k1'), before);
    expect(cache.lookup('h1')).toBeUndefined();
  });

  it('evicts every entry of a key, and only those', () => {
    const cache = new VerifiedKeyCache(10_000);
    cache.setChangesHeard(true);
    cache.remember('h1', key('k1'), cache.version());
    cache.remember('h2', key('k2'), cache.version());
    cache.evict('k1');
    expect(cache.lookup('h1')).toBeUndefined();
    expect(cache.lookup('h2')?.principal.keyId).toBe('k2');
  });

  it('drops entries older than the time to live, caches nothing with a zero one, and stays bounded', () => {
    let now = 0;
    const cache = new VerifiedKeyCache(1000, 2, () => now);
    cache.setChangesHeard(true);
    cache.remember('h1', key('k1'), cache.version());
    now = 999;
    expect(cache.lookup('h1')).toBeDefined();
    now = 1000;
    expect(cache.lookup('h1')).toBeUndefined();
    cache.remember('h1', key('k1'), cache.version());
    cache.remember('h2', key('k2'), cache.version());
    cache.remember('h3', key('k3'), cache.version());
    expect([cache.lookup('h1'), cache.lookup('h2'), cache.lookup('h3')].map((entry) => entry?.principal.keyId)).toEqual([
      undefined,
      'k2',
      'k3',
    ]);

    const off = new VerifiedKeyCache(0);
    off.setChangesHeard(true);
    off.remember('h1', key('k1'), off.version());
    expect(off.lookup('h1')).toBeUndefined();
  });
});
