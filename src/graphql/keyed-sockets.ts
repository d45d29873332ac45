import { HeraldError } from '../lib/errors';
import type { Principal } from '../modules/api-keys/principal';
import { KeyRefusedError } from '../modules/api-keys/api-key.service';

/** What this registry needs of a graphql-ws socket (a `ws` WebSocket). */
export interface KeyedSocket {
  readonly readyState: number;
  readonly OPEN: number;
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
/** A check the database could not answer is made again this much later. */
const RETRY_AFTER_ERROR_MS = 5_000;
/** Keys checked at once when every connection is checked (after the change feed reconnects). */
const CHECKS_AT_ONCE = 4;

/**
 * The open graphql-ws connections by the API key each authenticated with, so that no subscription outlives its
 * key's authority. A change to a key (a revocation from any process, a new expiry, a deletion) re-checks that
 * key's connections at once; a key's expiry re-checks them when it comes; and when changes may have gone unheard
 * (the change feed lost or regained its connection), every connection is re-checked. A connection whose key is
 * refused, or now stands for another scope, is closed with 4401 and a reason that says why: its operations end
 * with it, and graphql-ws clients do not reconnect after that code.
 */
export class KeyedSockets {
  private readonly byKey = new Map<string, { sockets: Map<KeyedSocket, Bound>; timer?: NodeJS.Timeout }>();

  constructor(
    /** Checks a presented key again: its authority, or a HeraldError saying why it is refused. */
    private readonly check: (presented: string) => Promise<KeyAuthority>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Keeps the connection under its key until the socket closes (a socket already closing is not kept). */
  add(socket: KeyedSocket, presented: string, authority: KeyAuthority): void {
    // A client that left while its key was checked has had its 'close' event already: it would never be forgotten.
    if (socket.readyState !== socket.OPEN) return;
    const keyId = authority.principal.keyId;
    let entry = this.byKey.get(keyId);
    if (!entry) this.byKey.set(keyId, (entry = { sockets: new Map() }));
    const current = entry;
    current.sockets.set(socket, { presented, principal: authority.principal });
    this.armTimer(keyId, current, authority.expiresAt);
    socket.once('close', () => {
      current.sockets.delete(socket);
      if (current.sockets.size === 0 && this.byKey.get(keyId) === current) this.forget(keyId);
    });
  }

  /** Re-checks the connections of one key (null: of every key, a few keys at a time, with one log line for failures). */
  async recheck(keyId: string | null): Promise<void> {
    if (keyId !== null) {
      const error = await this.recheckKey(keyId);
      if (error !== undefined) this.onError(error);
      return;
    }
    const pending = [...this.byKey.keys()];
    let firstError: unknown;
    const next = async (): Promise<void> => {
      for (let id = pending.shift(); id !== undefined; id = pending.shift()) {
        const error = await this.recheckKey(id);
        firstError ??= error;
      }
    };
    await Promise.all(Array.from({ length: CHECKS_AT_ONCE }, next));
    if (firstError !== undefined) this.onError(firstError);
  }

  /** Checks one key's connections; returns the error when the database could not answer (it tries again later). */
  private async recheckKey(keyId: string): Promise<unknown> {
    const entry = this.byKey.get(keyId);
    if (!entry) return undefined;
    // Every socket of one key presented the same key: one check answers for all of them.
    const [first] = entry.sockets.values();
    if (!first) return undefined;
    let authority: KeyAuthority;
    try {
      authority = await this.check(first.presented);
    } catch (error) {
      if (!(error instanceof HeraldError)) {
        // The database could not answer: the connections keep their authority until a check can be made, soon.
        this.armTimer(keyId, entry, Date.now() + RETRY_AFTER_ERROR_MS);
        return error;
      }
      this.closeAll(entry.sockets.keys(), refusalReason(error));
      return;
    }
    for (const [socket, { principal }] of entry.sockets) {
      if (principal.kind !== authority.principal.kind || principal.applicationId !== authority.principal.applicationId) {
        this.closeAll([socket], "Unauthorized: the API key's scope changed. Connect again.");
      }
    }
    this.armTimer(keyId, entry, authority.expiresAt);
    return undefined;
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

  /** The key's next check: at its expiry, or sooner after a check the database could not answer (null: none). */
  private armTimer(keyId: string, entry: { timer?: NodeJS.Timeout }, at: number | null): void {
    if (entry.timer) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (at === null) return;
    // A moment after the expiry, so the check sees it passed.
    entry.timer = setTimeout(() => void this.recheck(keyId), Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now() + 5)));
    entry.timer.unref();
  }

  private forget(keyId: string): void {
    const entry = this.byKey.get(keyId);
    if (entry?.timer) clearTimeout(entry.timer);
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
function refusalReason(error: HeraldError): string {
  const refusal = error instanceof KeyRefusedError ? error.refusal : null;
  if (refusal === 'revoked') return 'Unauthorized: the API key was revoked. Connect again with a valid key.';
  if (refusal === 'expired') return 'Unauthorized: the API key has expired. Connect again with a valid key.';
  return 'Unauthorized: the API key is no longer valid. Connect again with a valid key.';
}
