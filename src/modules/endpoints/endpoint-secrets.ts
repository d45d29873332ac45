import type { SecretBox } from '../../lib/encryption';
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

/** Decrypts what a delivery needs. */
export function openSigningMaterial(stored: StoredEndpointSecrets, secrets: SecretBox, now: Date): SigningMaterial {
  const context = secretContext(stored.id);
  const open = (value: string) => secrets.decrypt(value, context);
  return {
    secret: open(stored.secret),
    previousSecrets: stored.previousSecrets
      .filter((previous) => Date.parse(previous.expiresAt) > now.getTime())
      .map((previous) => open(previous.secret)),
    signingKey: stored.signingKey ? open(stored.signingKey) : null,
  };
}
