import { HeraldError } from '../lib/errors';
import type { Principal } from '../modules/api-keys/principal';

/** What this registry needs of a graphql-ws socket (a `ws` WebSocket). */
export interface KeyedSocket {
  close(code: number, reason: string): void;
  once(event: 'close', listener: () => void): unknown;
}

/** A key as a check finds it: whom it stands for, and until when (epoch ms; null: no expiry). */
export interface KeyAuthority {
  principal: Principal;
  expiresAt: number | null;
}

/** graphql-ws's close code for a connection that is not (or no longer) authorised; its clients do not reconnect after it. */
export const UNAUTHORIZED_CLOSE_CODE = 4401;

/** setTimeout's longest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The open graphql-ws connections by the API key each authenticated with, so that no subscription outlives its
 * key's authority. A change to a key (a revocation from any process, a new expiry, a deletion) re-checks that
 * key's connections at once; a key's expiry re-checks them when it comes; and when changes may have gone unheard
 * (the change feed lost or regained its connection), every connection is re-checked. A connection whose key is
 * refused, or now stands for another scope, is closed with 4401 and a reason that says why: its operations end
 * with it, and graphql-ws clients do not reconnect after that code.
 */
export class KeyedSockets {
  private readonly byKey = new Map<string, { sockets: Map<KeyedSocket, Bound>; expiryTimer?: NodeJS.Timeout }>();

  constructor(
    /** Checks a presented key again: its authority, or a HeraldError saying why it is refused. */
    private readonly check: (presented: string) => Promise<KeyAuthority>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Keeps the connection under its key until the socket closes. */
  add(socket: KeyedSocket, presented: string, authority: KeyAuthority): void {
    const keyId = authority.principal.keyId;
    let entry = this.byKey.get(keyId);
    if (!entry) this.byKey.set(keyId, (entry = { sockets: new Map() }));
    const current = entry;
    current.sockets.set(socket, { presented, principal: authority.principal });
    this.expireAt(keyId, current, authority.expiresAt);
    socket.once('close', () => {
      current.sockets.delete(socket);
      if (current.sockets.size === 0 && this.byKey.get(keyId) === current) this.forget(keyId);
    });
  }

  /** Re-checks the connections of one key (null: of every key). */
  async recheck(keyId: string | null): Promise<void> {
    if (keyId === null) {
      await Promise.all([...this.byKey.keys()].map((id) => this.recheck(id)));
      return;
    }
    const entry = this.byKey.get(keyId);
    if (!entry) return;
    // Every socket of one key presented the same key: one check answers for all of them.
    const [first] = entry.sockets.values();
    if (!first) return;
    let authority: KeyAuthority;
    try {
      authority = await this.check(first.presented);
    } catch (error) {
      if (!(error instanceof HeraldError)) {
        // The database could not answer: the connections keep their authority until a check can be made.
        this.onError(error);
        return;
      }
      this.closeAll(entry.sockets.keys(), refusalReason(error.message));
      return;
    }
    for (const [socket, { principal }] of entry.sockets) {
      if (principal.kind !== authority.principal.kind || principal.applicationId !== authority.principal.applicationId) {
        this.closeAll([socket], "Unauthorized: the API key's scope changed. Connect again.");
      }
    }
    this.expireAt(keyId, entry, authority.expiresAt);
  }

  /** Open connections, for tests and diagnostics. */
  get size(): number {
    let count = 0;
    for (const { sockets } of this.byKey.values()) count += sockets.size;
    return count;
  }

  stop(): void {
    for (const keyId of [...this.byKey.keys()]) this.forget(keyId);
  }

  private expireAt(keyId: string, entry: { expiryTimer?: NodeJS.Timeout }, expiresAt: number | null): void {
    if (entry.expiryTimer) clearTimeout(entry.expiryTimer);
    entry.expiryTimer = undefined;
    if (expiresAt === null) return;
    // A moment after the expiry, so the check sees it passed.
    entry.expiryTimer = setTimeout(() => void this.recheck(keyId), Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - Date.now() + 5)));
    entry.expiryTimer.unref();
  }

  private forget(keyId: string): void {
    const entry = this.byKey.get(keyId);
    if (entry?.expiryTimer) clearTimeout(entry.expiryTimer);
    this.byKey.delete(keyId);
  }

  private closeAll(sockets: Iterable<KeyedSocket>, reason: string): void {
    for (const socket of [...sockets]) socket.close(UNAUTHORIZED_CLOSE_CODE, reason);
  }
}

interface Bound {
  presented: string;
  principal: Principal;
}

/** A close reason (at most 123 bytes) for a refused key. */
function refusalReason(message: string): string {
  if (/revoked/i.test(message)) return 'Unauthorized: the API key was revoked. Connect again with a valid key.';
  if (/expired/i.test(message)) return 'Unauthorized: the API key has expired. Connect again with a valid key.';
  return 'Unauthorized: the API key is no longer valid. Connect again with a valid key.';
}
