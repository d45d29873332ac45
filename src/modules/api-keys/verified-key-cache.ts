import type { Principal } from './principal';

/** What a successful key lookup found, kept so the next request with that key needs no query. */
export interface VerifiedKey {
  principal: Principal;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

/**
 * The keys this process verified recently, by hash, so a busy client's requests do not each read
 * api_keys. It is trusted only while changes to api_keys are heard: a trigger on the table notifies
 * every process of any change to a key (a revocation from another process or from `herald keys revoke`
 * included), the change feed evicts it here, and while that feed is down nothing is cached and what was
 * cached is forgotten. A lookup that raced with an eviction is not remembered. So a revoked key is
 * refused as soon as the revocation's notification arrives (milliseconds), and at once in the process
 * that revoked it.
 */
export class VerifiedKeyCache {
  private readonly entries = new Map<string, VerifiedKey & { cachedAt: number }>();
  private generation = 0;
  private heard = false;
  private readonly changeListeners: Array<(keyId: string | null) => void> = [];

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called by the change feed as it gains or loses its connection; either way, nothing cached survives. */
  setChangesHeard(heard: boolean): void {
    this.heard = heard;
    this.clear();
  }

  lookup(keyHash: string): VerifiedKey | undefined {
    const entry = this.entries.get(keyHash);
    if (!entry) return undefined;
    if (this.now() - entry.cachedAt >= this.ttlMs) {
      this.entries.delete(keyHash);
      return undefined;
    }
    return entry;
  }

  /** Taken before reading the key from the database and given back to `remember`. */
  version(): number {
    return this.generation;
  }

  /**
   * Keeps a lookup's result, unless the cache is off, unheard, or anything was evicted since `version`. The object
   * itself is kept (and handed out by `lookup`), so a caller that records its `lastUsedAt` updates the cache too.
   */
  remember(keyHash: string, key: VerifiedKey, version: number): void {
    if (this.ttlMs <= 0 || !this.heard || version !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(keyHash, Object.assign(key, { cachedAt: this.now() }));
  }

  /**
   * Calls `listener` with the id of every key evicted for a change (heard by the change feed, or revoked here), and
   * with null when everything cached is forgotten (the change feed lost or regained its connection: any key may
   * have changed unheard). Returns its removal.
   */
  onChange(listener: (keyId: string | null) => void): () => void {
    this.changeListeners.push(listener);
    return () => {
      const index = this.changeListeners.indexOf(listener);
      if (index >= 0) this.changeListeners.splice(index, 1);
    };
  }

  evict(keyId: string): void {
    this.generation += 1;
    for (const [hash, entry] of this.entries) if (entry.principal.keyId === keyId) this.entries.delete(hash);
    for (const listener of this.changeListeners) listener(keyId);
  }

  clear(): void {
    this.generation += 1;
    this.entries.clear();
    for (const listener of this.changeListeners) listener(null);
  }
}
