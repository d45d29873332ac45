/**
 * Settings of the herald CLI's client commands (listen, trigger, endpoints, events, deliveries). Flags win
 * over the environment; this module is the one place the CLI reads HERALD_URL and HERALD_API_KEY.
 */
export interface CliClientConfig {
  url: string;
  apiKey: string | undefined;
}

/** The variables the CLI client reads (documented in .env.example with the server's). */
export const CLI_CONFIG_KEYS = ['HERALD_URL', 'HERALD_API_KEY'];

export const DEFAULT_HERALD_URL = 'http://127.0.0.1:4000';

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
