import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  DEFAULT_TOLERANCE_SECONDS,
  type VerifiedWebhook,
  type VerifyOptions,
  WebhookVerificationError,
  WebhookVerifier,
} from '../delivery/webhook-verifier';

/** Receiver SDK: the verifier (shared with the server's inbound sources), express and node:http middleware, dedupe. */
export {
  type HeaderSource,
  type VerifiedWebhook,
  type VerifyOptions,
  type WebhookErrorCode,
  WebhookVerificationError,
  WebhookVerifier,
  verifyWebhook,
} from '../delivery/webhook-verifier';

/**
 * Remembers webhook-ids already handled, so a retried or replayed delivery is processed once. `claim`
 * must be atomic: it returns false when the id was claimed before (and not released).
 */
export interface DedupeStore {
  claim(id: string, ttlSeconds: number): Promise<boolean> | boolean;
  /** Forgets a claim whose handling failed, so the sender's retry is processed. */
  release(id: string): Promise<void> | void;
}

/** In-process store; use a shared one (Redis SET NX, a unique index) when several processes receive. */
export class MemoryDedupeStore implements DedupeStore {
  private readonly seen = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  claim(id: string, ttlSeconds: number): boolean {
    const now = this.now();
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(key);
    }
    const expiresAt = this.seen.get(id);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.seen.delete(id);
    this.seen.set(id, now + ttlSeconds * 1000);
    return true;
  }

  release(id: string): void {
    this.seen.delete(id);
  }
}

export interface ReceiverOptions extends VerifyOptions {
  dedupe?: DedupeStore;
  /** Largest body read, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
}

type ExpressLikeRequest = IncomingMessage & { body?: unknown; webhook?: VerifiedWebhook };
type ExpressLikeResponse = ServerResponse & { status?: (code: number) => unknown };

/**
 * Express middleware: verifies the request (reading the body itself unless express.raw/express.text ran
 * first), answers 401 on a bad signature, 200 `{"duplicate":true}` for an id already handled, and
 * otherwise sets `req.webhook` and calls the next handler. A handler answering 4xx/5xx releases the claim.
 */
export function webhookMiddleware(options: ReceiverOptions) {
  const verifier = new WebhookVerifier(options);
  const ttl = dedupeTtl(options);
  return (req: ExpressLikeRequest, res: ExpressLikeResponse, next: (error?: unknown) => void): void => {
    void (async () => {
      const body = req.body !== undefined && !isEmptyParsedBody(req) ? req.body : await readBody(req, options.maxBodyBytes);
      const webhook = verifyOrAnswer(verifier, body, req, res);
      if (!webhook) return;
      if (options.dedupe) {
        if (!(await options.dedupe.claim(webhook.id, ttl))) {
          sendJson(res, 200, { duplicate: true, id: webhook.id });
          return;
        }
        const dedupe = options.dedupe;
        res.on('finish', () => {
          if (res.statusCode >= 400) void dedupe.release(webhook.id);
        });
      }
      req.webhook = webhook;
      next();
    })().catch(next);
  };
}

/**
 * node:http handler: verifies, dedupes, then runs `handle`. Answers 204 when it resolves (unless it
 * answered itself), 500 when it throws (and releases the claim so the retry is processed), 401 on a bad
 * signature.
 */
export function createWebhookHandler<T = unknown>(
  options: ReceiverOptions,
  handle: (webhook: VerifiedWebhook<T>, req: IncomingMessage, res: ServerResponse) => unknown,
) {
  const verifier = new WebhookVerifier(options);
  const ttl = dedupeTtl(options);
  return (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      let body: Buffer;
      try {
        body = await readBody(req, options.maxBodyBytes);
      } catch (error) {
        sendJson(res, 413, { error: 'BODY_TOO_LARGE', message: (error as Error).message });
        return;
      }
      const webhook = verifyOrAnswer(verifier, body, req, res) as VerifiedWebhook<T> | null;
      if (!webhook) return;
      if (options.dedupe && !(await options.dedupe.claim(webhook.id, ttl))) {
        sendJson(res, 200, { duplicate: true, id: webhook.id });
        return;
      }
      try {
        await handle(webhook, req, res);
        if (!res.headersSent) {
          res.statusCode = 204;
          res.end();
        }
      } catch (error) {
        await options.dedupe?.release(webhook.id);
        if (!res.headersSent) sendJson(res, 500, { error: 'HANDLER_FAILED', message: (error as Error).message });
      }
    })();
  };
}

function verifyOrAnswer(verifier: WebhookVerifier, body: unknown, req: IncomingMessage, res: ServerResponse): VerifiedWebhook | null {
  try {
    return verifier.verify(body, req.headers);
  } catch (error) {
    if (!(error instanceof WebhookVerificationError)) throw error;
    // A parsed body is the receiver's own setup mistake: say so loudly rather than blaming the sender.
    sendJson(res, error.code === 'NOT_RAW_BODY' ? 500 : 401, { error: error.code, message: error.message });
    return null;
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

function dedupeTtl(options: VerifyOptions): number {
  // Older messages fail the timestamp check anyway, so remembering ids for twice the window is enough.
  return 2 * (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS) + 60;
}

/** express.json() leaves `{}` for bodies it did not parse; only a non-consumed stream can still be read. */
function isEmptyParsedBody(req: ExpressLikeRequest): boolean {
  return (
    !req.readableEnded &&
    req.body !== null &&
    typeof req.body === 'object' &&
    !Buffer.isBuffer(req.body) &&
    Object.keys(req.body).length === 0
  );
}

async function readBody(req: IncomingMessage, maxBytes = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new Error(`The request body is larger than ${maxBytes} bytes.`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
