import { Agent, type buildConnector, request, type Dispatcher } from 'undici';
import { type AttemptOutcome, AttemptErrorKind, classifyNetworkError, isSuccessStatus } from './attempt-outcome';
import { type LookupAll, type SsrfPolicy, createGuardedConnector } from './ssrf-guard';

/** How deliveries reach the network; tests inject a lookup and a dialler that record instead of connecting. */
export interface DeliveryNetwork {
  lookup?: LookupAll;
  dial?: buildConnector.connector;
}

export interface PostOptions {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  responseBodyMaxBytes: number;
}

/**
 * POSTs one delivery and turns every result into data: a status, a capped body and a duration, or a
 * classified error. Never throws for anything the receiver or the network does. Redirects are not
 * followed (undici's `request` does not follow them), so a 3xx is just a failed attempt.
 */
export class WebhookHttpClient {
  private readonly dispatcher: Dispatcher;

  constructor(dispatcher?: Dispatcher) {
    // Keep-alive pools per origin: most deliveries go to a few receivers over and over.
    this.dispatcher = dispatcher ?? new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connections: 64, pipelining: 1 });
  }

  /** The client deliveries use: every connection goes through the SSRF guard. */
  static guarded(policy: SsrfPolicy, network: DeliveryNetwork = {}): WebhookHttpClient {
    return new WebhookHttpClient(
      new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 120_000,
        connections: 64,
        pipelining: 1,
        connect: createGuardedConnector({ policy, lookup: network.lookup, dial: network.dial }),
      }),
    );
  }

  async post(options: PostOptions): Promise<AttemptOutcome> {
    const started = performance.now();
    const signal = AbortSignal.timeout(options.timeoutMs);
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const response = await request(options.url, {
        method: 'POST',
        headers: options.headers,
        body: options.body,
        dispatcher: this.dispatcher,
        signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const { text, truncated } = await readCapped(response.body, options.responseBodyMaxBytes);
      const ok = isSuccessStatus(response.statusCode);
      return {
        ok,
        statusCode: response.statusCode,
        responseBody: text,
        responseBodyTruncated: truncated,
        durationMs: elapsed(),
        errorKind: ok ? null : AttemptErrorKind.HTTP_STATUS,
        errorMessage: ok ? null : describeStatus(response.statusCode),
        retryAfter: headerValue(response.headers['retry-after']),
      };
    } catch (error) {
      const { kind, message } = classifyNetworkError(error);
      return {
        ok: false,
        statusCode: null,
        responseBody: null,
        responseBodyTruncated: false,
        durationMs: elapsed(),
        errorKind: kind,
        errorMessage: message,
      };
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? (value[0] ?? null) : value;
}

function describeStatus(status: number): string {
  if (status >= 300 && status < 400)
    return `The endpoint answered ${status} (a redirect); redirects are not followed: register the final URL.`;
  return `The endpoint answered HTTP ${status}; only 2xx counts as delivered.`;
}

/**
 * Reads at most `maxBytes` of a response body and then drops the connection, so a receiver that streams
 * gigabytes costs no memory. A body that fails mid-read keeps what arrived.
 */
async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      const room = maxBytes - size;
      if (chunk.length > room) {
        if (room > 0) chunks.push(chunk.subarray(0, room));
        size = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(chunk);
      size += chunk.length;
    }
  } catch {
    truncated = true;
  } finally {
    if (truncated) body.destroy();
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated };
}
