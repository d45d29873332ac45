import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, generateEncryptionKey, isEncrypted, parseEncryptionKey } from '../../src/lib/encryption';

describe('SecretBox: AES-256-GCM for secrets at rest', () => {
  const box = new SecretBox(randomBytes(32));
  const secret = `whsec_${randomBytes(32).toString('base64')}`;

  it('round-trips, with a fresh IV each time and no plaintext in the stored form', () => {
    const [one, two] = [box.encrypt(secret, 'endpoint:ep_1'), box.encrypt(secret, 'endpoint:ep_1')];
    expect(one).toMatch(/^enc:v1:/);
    expect(one).not.toBe(two);
    expect(one).not.toContain(secret.slice(6, 20));
    expect(box.decrypt(one, 'endpoint:ep_1')).toBe(secret);
    expect(isEncrypted(one)).toBe(true);
    expect(isEncrypted(secret)).toBe(false);
  });

  it('refuses a value moved to another row, tampered with, or read with another key', () => {
    const stored = box.encrypt(secret, 'endpoint:ep_1');
    expect(() => box.decrypt(stored, 'endpoint:ep_2')).toThrow(/could not be decrypted/);
    const [iv, tag, data] = stored.slice('enc:v1:'.length).split(':');
    const flipped = Buffer.from(data!, 'base64');
    flipped[0] = flipped[0]! ^ 1;
    expect(() => box.decrypt(`enc:v1:${iv}:${tag}:${flipped.toString('base64')}`, 'endpoint:ep_1')).toThrow(/could not be decrypted/);
    expect(() => new SecretBox(randomBytes(32)).decrypt(stored, 'endpoint:ep_1')).toThrow(/HERALD_ENCRYPTION_KEY/);
  });

  it('refuses a stored secret that is not in the enc:v1: form, saying so, instead of using it as it is', () => {
    expect(() => box.decrypt(secret, 'endpoint:ep_1')).toThrow(/not in the enc:v1: form/);
    expect(() => box.decrypt('', 'endpoint:ep_1')).toThrow(/not in the enc:v1: form/);
  });

  it('parses keys as base64 or hex, 32 bytes only', () => {
    expect(parseEncryptionKey(generateEncryptionKey())).toHaveLength(32);
    expect(parseEncryptionKey(randomBytes(32).toString('hex'))).toHaveLength(32);
    expect(parseEncryptionKey(randomBytes(16).toString('base64'))).toBeUndefined();
    expect(parseEncryptionKey('not a key')).toBeUndefined();
  });
});
