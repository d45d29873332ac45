import { randomUUID } from 'node:crypto';
import { standardSignature } from '../delivery/signature';

/**
 * Standard Webhooks headers for a body, signed `v1` with a `whsec_` secret: for testing a receiver, or
 * for sending webhooks of your own that any Standard Webhooks verifier accepts.
 */
export function signWebhook(options: { secret: string; body: string; id?: string; timestamp?: Date }): Record<string, string> {
  const id = options.id ?? `msg_${randomUUID().replace(/-/g, '')}`;
  const seconds = Math.floor((options.timestamp ?? new Date()).getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(seconds),
    'webhook-signature': standardSignature(options.secret, id, seconds, options.body),
  };
}
