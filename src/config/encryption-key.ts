import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SecretBox, generateEncryptionKey, parseEncryptionKey } from '../lib/encryption';
import type { Logger } from '../lib/logger';
import type { HeraldConfig } from './index';

export const ENCRYPTION_KEY_FILE = 'encryption.key';

/**
 * The key endpoint secrets are encrypted with: HERALD_ENCRYPTION_KEY, or (development and tests only;
 * production refuses to start without the variable) a key generated once into the data folder, beside the
 * embedded database it protects.
 */
export function loadSecretBox(config: Pick<HeraldConfig, 'encryptionKey' | 'dataDir' | 'env'>, logger: Logger): SecretBox {
  if (config.encryptionKey) return new SecretBox(config.encryptionKey);
  if (config.env === 'production') throw new Error('HERALD_ENCRYPTION_KEY is required in production');
  const file = path.join(config.dataDir, ENCRYPTION_KEY_FILE);
  mkdirSync(config.dataDir, { recursive: true });
  try {
    // 'wx': when two processes start together, one creates the file and the other reads it.
    writeFileSync(file, `${generateEncryptionKey()}\n`, { flag: 'wx', mode: 0o600 });
    // The development default working as designed (production refuses to start without the variable): info, not a warning.
    logger.info({ file }, 'generated an encryption key for endpoint secrets; set HERALD_ENCRYPTION_KEY in production');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = parseEncryptionKey(readFileSync(file, 'utf8'));
  if (!key) throw new Error(`${file} does not hold a 32-byte key (base64 or hex); restore it from a backup or set HERALD_ENCRYPTION_KEY`);
  return new SecretBox(key);
}
