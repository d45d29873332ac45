import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** Stored form of an encrypted value: versioned, so the scheme can change without guessing. */
const PREFIX = 'enc:v1:';
const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * AES-256-GCM for secrets at rest (endpoint signing secrets). Each value gets a fresh 96-bit IV; the
 * auth tag makes a tampered or wrongly keyed value fail loudly instead of decrypting to garbage.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error(`an encryption key must be ${KEY_BYTES} bytes`);
    this.key = Buffer.from(key);
  }

  encrypt(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${PREFIX}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ciphertext.toString('base64')}`;
  }

  /** A stored secret in plain text. Herald stores every secret encrypted: a value in any other form is refused. */
  decrypt(stored: string, context: string): string {
    if (!isEncrypted(stored)) {
      throw new Error(`a stored secret is not in the ${PREFIX} form Herald writes every secret in: it was not stored by Herald`);
    }
    const [iv, tag, ciphertext] = stored.slice(PREFIX.length).split(':');
    if (!iv || !tag || ciphertext === undefined) throw new Error('the stored value is not in the enc:v1 format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new Error('a stored secret could not be decrypted: HERALD_ENCRYPTION_KEY is not the key it was encrypted with');
    }
  }
}

export function isEncrypted(value: string): boolean {
  return value.startsWith(PREFIX);
}

export function generateEncryptionKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Accepts 32 bytes as base64 (44 characters) or hex (64 characters); undefined otherwise. */
export function parseEncryptionKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === KEY_BYTES) return bytes;
  }
  return undefined;
}
