import { CREATE_KEY_COMMAND } from '../config/cli';
import { HeraldApiError } from '../sdk/client';

/** Where a command writes: its results to `out`, problems to `err`. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const consoleIo: Io = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };

const KEY_HINT = `The CLI sends the key from --api-key or HERALD_API_KEY; make a new one with \`${CREATE_KEY_COMMAND}\`.`;

/** A failed command's message: what Herald refused, or why it could not be reached, and what to do. */
export function describeError(error: unknown, url: string): string {
  if (error instanceof HeraldApiError && error.code === 'UNAUTHENTICATED') {
    return `Herald refused the API key: ${error.message} (${error.code})\n${KEY_HINT}`;
  }
  if (error instanceof HeraldApiError) return `Herald refused: ${error.message} (${error.code})`;
  // graphql-ws: the socket closed with 4401 (a refused key), before connecting (connect's Error) or later (the close event).
  const closed = error as { code?: unknown; reason?: unknown } | null;
  if (closed?.code === 4401) return `Herald closed the subscription: ${String(closed.reason)} (4401)\n${KEY_HINT}`;
  if (error instanceof Error && /closed: Unauthorized\b/.test(error.message)) return `${error.message}\n${KEY_HINT}`;
  const cause = (error as { cause?: { code?: string; errors?: Array<{ code?: string }> } }).cause;
  if (cause?.code === 'ECONNREFUSED' || cause?.errors?.some((inner) => inner.code === 'ECONNREFUSED'))
    return `Cannot reach Herald at ${url}: is it running? Set --url or HERALD_URL.`;
  if (error instanceof Error && error.message === 'fetch failed') {
    return `Cannot reach Herald at ${url} (${(error.cause as Error | undefined)?.message ?? 'network error'}): set --url or HERALD_URL.`;
  }
  return error instanceof Error ? error.message : String(error);
}
