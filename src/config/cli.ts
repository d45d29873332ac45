/**
 * Settings of the herald CLI's client commands (listen, trigger, endpoints, events, deliveries, event-types, replay). Flags win
 * over the environment; this module is the one place the CLI reads HERALD_URL and HERALD_API_KEY.
 */
export interface CliClientConfig {
  url: string;
  apiKey: string | undefined;
}

/** The variables the CLI client reads (documented in .env.example with the server's). */
export const CLI_CONFIG_KEYS = ['HERALD_URL', 'HERALD_API_KEY'];

export const DEFAULT_HERALD_URL = 'http://127.0.0.1:4000';

/** How a user makes an API key from the project folder (the package's own bin; needs the database, not a key). */
export const CREATE_KEY_COMMAND = 'npx herald keys create --name <name>';

/** What a client command says when it has no key to send (every operation needs one). */
export const MISSING_API_KEY_MESSAGE = [
  'No API key: pass --api-key <key> or set HERALD_API_KEY (the hk_... key Herald printed on its first start).',
  `Make one with \`${CREATE_KEY_COMMAND}\` in the Herald project folder (it needs the database, not a key).`,
].join('\n');

/**
 * Whether npm started this process (`npm run herald -- ...`, `npx herald ...`): npm sets npm_lifecycle_event for
 * the scripts it runs and for npx.
 */
export function startedByNpm(source: Record<string, string | undefined> = process.env): boolean {
  return Boolean(source.npm_lifecycle_event);
}

export function loadCliClientConfig(
  flags: { url?: string; apiKey?: string },
  source: Record<string, string | undefined> = process.env,
): CliClientConfig {
  const url = (flags.url ?? source.HERALD_URL ?? DEFAULT_HERALD_URL).replace(/\/+$/, '').replace(/\/graphql$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${url}" is not a valid Herald URL (--url or HERALD_URL), for example ${DEFAULT_HERALD_URL}.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`The Herald URL must be http:// or https://, not ${parsed.protocol} (--url or HERALD_URL).`);
  }
  const apiKey = flags.apiKey ?? (source.HERALD_API_KEY || undefined);
  return { url, apiKey };
}
