import { badInput } from '../../lib/errors';

export const MAX_URL_LENGTH = 2048;

/** Checks a receiver URL and returns its normalised form; every refusal says what to change. */
export function validateEndpointUrl(raw: string, field = 'url'): string {
  const text = raw.trim();
  if (text.length === 0) throw badInput('The endpoint URL is empty: give an http:// or https:// URL.', { field });
  if (text.length > MAX_URL_LENGTH) {
    throw badInput(`The endpoint URL is ${text.length} characters long; the limit is ${MAX_URL_LENGTH}.`, { field });
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badInput(`"${text.slice(0, 100)}" is not a valid URL: give an absolute http:// or https:// URL.`, { field });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw badInput(`Endpoint URLs must use http or https, not "${url.protocol.replace(/:$/, '')}".`, { field });
  }
  if (!url.hostname) throw badInput('The endpoint URL has no host name.', { field });
  if (url.username || url.password) {
    throw badInput('Endpoint URLs must not contain credentials (user:password@); send them as a custom header instead.', { field });
  }
  url.hash = '';
  return url.toString();
}
