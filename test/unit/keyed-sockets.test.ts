import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type KeyAuthority, KeyedSockets, UNAUTHORIZED_CLOSE_CODE } from '../../src/graphql/keyed-sockets';
import { ApiKeyKind } from '../../src/modules/api-keys/api-key.entity';
import type { Principal } from '../../src/modules/api-keys/principal';
import { type KeyRefusal, KeyRefusedError } from '../../src/modules/api-keys/api-key.service';

/** A socket as ws shows it: open until closed, then a 'close' event. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  closedWith: { code: number; reason: string } | null = null;
  close(code: number, reason: string): void {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    this.readyState = 3;
    this.emit('close');
  }
}

const principal = (keyId: string): Principal => ({ keyId, name: keyId, kind: ApiKeyKind.ADMIN, applicationId: null });
const valid = (keyId: string, expiresAt: number | null = null): KeyAuthority => ({ principal: principal(keyId), expiresAt });
const refused = (message: string, refusal: KeyRefusal) => new KeyRefusedError(message, refusal);

describe('KeyedSockets', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('does not keep a socket that closed while its key was checked', async () => {
    const sockets = new KeyedSockets(
      async () => valid('key_a'),
      () => undefined,
    );
    const socket = new FakeSocket();
    socket.readyState = 3;
    sockets.add(socket, 'hk_a', valid('key_a'));
    expect(sockets.size).toBe(0);
  });

  it('forgets a socket once it closes, and closes a socket whose key is refused with 4401 and why', async () => {
    let answer: () => KeyAuthority = () => valid('key_a');
    const sockets = new KeyedSockets(
      async () => answer(),
      () => undefined,
    );
    const kept = new FakeSocket();
    const left = new FakeSocket();
    sockets.add(kept, 'hk_a', valid('key_a'));
    sockets.add(left, 'hk_a', valid('key_a'));
    left.close(1000, 'bye');
    expect(sockets.size).toBe(1);
    await sockets.recheck('key_a');
    expect(kept.closedWith).toBeNull();
    answer = () => {
      throw refused('The API key has been revoked: use another key.', 'revoked');
    };
    await sockets.recheck('key_a');
    expect(kept.closedWith).toEqual({ code: UNAUTHORIZED_CLOSE_CODE, reason: expect.stringMatching(/revoked/) });
    expect(sockets.size).toBe(0);
  });

  it('checks again 5 s after the database could not answer, and closes then if the key is refused', async () => {
    const errors: unknown[] = [];
    let answer: () => KeyAuthority = () => {
      throw new Error('connection terminated');
    };
    const check = vi.fn(async () => answer());
    const sockets = new KeyedSockets(check, (error) => errors.push(error));
    const socket = new FakeSocket();
    sockets.add(socket, 'hk_a', valid('key_a'));
    await sockets.recheck('key_a');
    expect(errors).toHaveLength(1);
    expect(socket.closedWith).toBeNull();
    answer = () => {
      throw refused('The API key has expired: create a new one.', 'expired');
    };
    await vi.advanceTimersByTimeAsync(4_900);
    expect(check).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(check).toHaveBeenCalledTimes(2);
    expect(socket.closedWith).toEqual({ code: UNAUTHORIZED_CLOSE_CODE, reason: expect.stringMatching(/expired/) });
  });

  it('closes a socket when its key expires, not before', async () => {
    const start = Date.now();
    let now = start;
    vi.setSystemTime(start);
    const sockets = new KeyedSockets(
      async () => {
        if (now >= start + 60_000) throw refused('The API key has expired: create a new one.', 'expired');
        return valid('key_a', start + 60_000);
      },
      () => undefined,
    );
    const socket = new FakeSocket();
    sockets.add(socket, 'hk_a', valid('key_a', start + 60_000));
    now = start + 59_000;
    await vi.advanceTimersByTimeAsync(59_000);
    expect(socket.closedWith).toBeNull();
    now = start + 60_100;
    await vi.advanceTimersByTimeAsync(1_100);
    expect(socket.closedWith).toEqual({ code: UNAUTHORIZED_CLOSE_CODE, reason: expect.stringMatching(/expired/) });
  });

  it('checks every key a few at a time after a reconnect and reports a database failure once', async () => {
    let running = 0;
    let most = 0;
    const errors: unknown[] = [];
    const sockets = new KeyedSockets(
      async () => {
        running += 1;
        most = Math.max(most, running);
        await Promise.resolve();
        running -= 1;
        throw new Error('connection refused');
      },
      (error) => errors.push(error),
    );
    for (let i = 0; i < 20; i++) sockets.add(new FakeSocket(), `hk_${i}`, valid(`key_${i}`));
    await sockets.recheck(null);
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThan(1);
    expect(errors).toHaveLength(1);
    expect(sockets.size).toBe(20);
    sockets.stop();
  });

  it('closes a socket whose key now stands for another scope', async () => {
    const sockets = new KeyedSockets(
      async () => ({ principal: { ...principal('key_a'), kind: ApiKeyKind.APPLICATION, applicationId: 'app_x' }, expiresAt: null }),
      () => undefined,
    );
    const socket = new FakeSocket();
    sockets.add(socket, 'hk_a', valid('key_a'));
    await sockets.recheck('key_a');
    expect(socket.closedWith).toEqual({ code: UNAUTHORIZED_CLOSE_CODE, reason: expect.stringMatching(/scope changed/) });
  });
});
