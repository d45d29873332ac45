import { createHmac } from 'node:crypto';
import { WebhookVerificationError, WebhookVerifier } from './webhook-verifier';
import { constantTimeEqual } from './signature';

/** How a third party signs the webhooks it sends to an inbound source. */
export type InboundScheme = 'STANDARD_WEBHOOKS' | 'GITHUB' | 'STRIPE' | 'HMAC';

export interface InboundVerification {
  /** The sender's message id when the scheme has one (webhook-id, X-GitHub-Delivery, Stripe's event id). */
  messageId: string | null;
}

export class InboundSignatureError extends Error {
  override name = 'InboundSignatureError';
}

type Headers = Record<string, string | string[] | undefined>;

const STRIPE_TOLERANCE_SECONDS = 300;

/**
 * Verifies a third-party webhook by its scheme, on the raw body bytes. Throws InboundSignatureError with a
 * message fit for the 401 answer; never says which part of a signature was wrong.
 */
export function verifyInbound(
  scheme: InboundScheme,
  options: { secret: string; hmacHeader?: string | null; nowSeconds?: number },
  body: Buffer,
  headers: Headers,
): InboundVerification {
  const text = body.toString('utf8');
  switch (scheme) {
    case 'STANDARD_WEBHOOKS': {
      try {
        const verified = new WebhookVerifier({
          secrets: options.secret,
          now: options.nowSeconds ? () => options.nowSeconds! : undefined,
        }).verify(body, headers);
        return { messageId: verified.id };
      } catch (error) {
        if (error instanceof WebhookVerificationError && error.code !== 'INVALID_JSON') throw new InboundSignatureError(error.message);
        throw error;
      }
    }
    case 'GITHUB': {
      const signature = single(headers, 'x-hub-signature-256');
      const expected = `sha256=${createHmac('sha256', options.secret).update(body).digest('hex')}`;
      if (!constantTimeEqual(signature, expected)) throw new InboundSignatureError('X-Hub-Signature-256 does not match the body.');
      return { messageId: optional(headers, 'x-github-delivery') };
    }
    case 'STRIPE': {
      const header = single(headers, 'stripe-signature');
      const parts = header.split(',').map((part) => part.split('=', 2) as [string, string | undefined]);
      const timestamp = parts.find(([key]) => key === 't')?.[1];
      if (!timestamp || !/^\d{1,12}$/.test(timestamp)) throw new InboundSignatureError('Stripe-Signature has no valid t= timestamp.');
      const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
      if (Math.abs(now - Number(timestamp)) > STRIPE_TOLERANCE_SECONDS) {
        throw new InboundSignatureError(`Stripe-Signature's timestamp is more than ${STRIPE_TOLERANCE_SECONDS} s from now (a replay?).`);
      }
      const expected = createHmac('sha256', options.secret).update(`${timestamp}.`).update(body).digest('hex');
      let matched = false;
      for (const [key, value] of parts) if (key === 'v1' && value && constantTimeEqual(value, expected)) matched = true;
      if (!matched) throw new InboundSignatureError('No v1 signature in Stripe-Signature matches the body.');
      return { messageId: jsonString(text, 'id') };
    }
    case 'HMAC': {
      const name = (options.hmacHeader ?? 'x-signature').toLowerCase();
      const given = single(headers, name).replace(/^sha256=/, '');
      const mac = createHmac('sha256', options.secret).update(body).digest();
      if (!constantTimeEqual(given, mac.toString('hex')) && !constantTimeEqual(given, mac.toString('base64'))) {
        throw new InboundSignatureError(`${name} does not match the body.`);
      }
      return { messageId: null };
    }
  }
}

function single(headers: Headers, name: string): string {
  const value = optional(headers, name);
  if (!value) throw new InboundSignatureError(`The ${name} header is missing.`);
  return value;
}

function optional(headers: Headers, name: string): string | null {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

function jsonString(text: string, key: string): string | null {
  try {
    const value = (JSON.parse(text) as Record<string, unknown>)[key];
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}
