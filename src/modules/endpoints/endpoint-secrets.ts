import type { EntityManager } from '@mikro-orm/postgresql';
import { execute } from '../../db/sql';
import { type SecretBox, isEncrypted } from '../../lib/encryption';
import type { PreviousSecret } from './endpoint.entity';

/** The encryption context of an endpoint's secrets: a ciphertext copied to another row does not decrypt. */
export const secretContext = (endpointId: string) => `endpoint:${endpointId}`;

/** Default and longest rotation grace period, as Standard Webhooks suggests. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 3600;
export const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600;
/** Rotating again and again within the grace period keeps at most this many older secrets. */
export const MAX_PREVIOUS_SECRETS = 5;

export interface StoredEndpointSecrets {
  id: string;
  secret: string;
  previousSecrets: PreviousSecret[];
  signingKey: string | null;
}

/** Plain-text secrets a delivery is signed with, newest first, and the optional ed25519 key. */
export interface SigningMaterial {
  secret: string;
  previousSecrets: string[];
  signingKey: string | null;
}

/** Opens what a delivery needs. A secret stored before encryption existed is accepted as it is. */
export function openSigningMaterial(stored: StoredEndpointSecrets, secrets: SecretBox, now: Date): SigningMaterial {
  const context = secretContext(stored.id);
  const open = (value: string) => (isEncrypted(value) ? secrets.decrypt(value, context) : value);
  return {
    secret: open(stored.secret),
    previousSecrets: stored.previousSecrets
      .filter((previous) => Date.parse(previous.expiresAt) > now.getTime())
      .map((previous) => open(previous.secret)),
    signingKey: stored.signingKey ? open(stored.signingKey) : null,
  };
}

/**
 * Encrypts every secret still stored in plain text (written before the security migration). Runs at
 * start after migrating; idempotent, and safe with many processes starting at once (row locks).
 */
export async function encryptPlaintextSecrets(em: EntityManager, secrets: SecretBox): Promise<number> {
  return em.transactional(async (tx) => {
    const rows = await execute<{ id: string; secret: string }>(
      tx,
      "select id, secret from endpoints where secret not like 'enc:v1:%' for update",
    );
    for (const row of rows) {
      await execute(tx, 'update endpoints set secret = ? where id = ?', [secrets.encrypt(row.secret, secretContext(row.id)), row.id]);
    }
    return rows.length;
  });
}
