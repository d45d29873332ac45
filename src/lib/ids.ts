import { randomBytes } from 'node:crypto';

/** Crockford base32: sortable as text, no ambiguous letters. */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

export const IdPrefix = {
  application: 'app',
  endpoint: 'ep',
  event: 'evt',
  delivery: 'dlv',
  attempt: 'att',
  eventTypeVersion: 'etv',
  source: 'src',
  inboundRequest: 'inb',
  apiKey: 'key',
  replay: 'rpl',
  portalSession: 'ps',
  auditEntry: 'aud',
} as const;
export type IdPrefix = (typeof IdPrefix)[keyof typeof IdPrefix];

let lastTime = 0;
let lastRandom: Buffer = Buffer.alloc(10);

/**
 * `<prefix>_` + a ULID-style body: 48 bits of milliseconds then 80 random bits. Ids created later sort
 * after earlier ones (monotonic within one millisecond), so an id is also a stable pagination cursor.
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  let random: Buffer;
  if (now <= lastTime) {
    now = lastTime;
    random = Buffer.from(lastRandom);
    for (let i = random.length - 1; i >= 0; i--) {
      random[i] = (random[i]! + 1) & 0xff;
      if (random[i] !== 0) break;
    }
  } else {
    random = randomBytes(10);
  }
  lastTime = now;
  lastRandom = random;
  return `${prefix}_${encodeTime(now)}${encodeRandom(random)}`;
}

function encodeTime(time: number): string {
  let out = '';
  for (let i = 0; i < 10; i++) {
    out = ALPHABET[time % 32]! + out;
    time = Math.floor(time / 32);
  }
  return out;
}

/** 80 bits as 16 base32 characters, most significant first (plain numbers: a BigInt per byte cost more than the rest of newId). */
function encodeRandom(bytes: Buffer): string {
  let out = '';
  let pending = 0;
  let pendingBits = 0;
  for (const byte of bytes) {
    pending = ((pending << 8) | byte) & 0xfff;
    pendingBits += 8;
    while (pendingBits >= 5) {
      pendingBits -= 5;
      out += ALPHABET[(pending >> pendingBits) & 31]!;
    }
  }
  return out;
}

export function hasPrefix(id: string, prefix: IdPrefix): boolean {
  return id.startsWith(`${prefix}_`) && /^[a-z]+_[0-9a-z]{1,64}$/.test(id);
}
