import { type SsrfPolicy, checkHostWithoutDns, describeRange, isLocalhostName } from '../../delivery/ssrf-guard';
import { badInput } from '../../lib/errors';

export const MAX_URL_LENGTH = 2048;

/**
 * validateEndpointUrl, then the delivery-time SSRF decision for what needs no DNS: a host that is an IP
 * address (in any spelling URL parsing accepts) or a localhost name that delivery would refuse is refused
 * now, naming the range and SSRF_ALLOW_CIDRS. Other names are checked when delivering, on what they resolve to.
 */
export function validateReceiverUrl(raw: string, ssrf: SsrfPolicy, field = 'url'): string {
  const normalised = validateEndpointUrl(raw, field);
  const host = new URL(normalised).hostname;
  const verdict = checkHostWithoutDns(host, ssrf);
  if (!verdict || verdict.allowed) return normalised;
  const text = raw.trim();
  const quoted = `"${text.length > 100 ? `${text.slice(0, 100)}...` : text}"`;
  if (isLocalhostName(host)) {
    throw badInput(
      `${quoted} points at ${host}, which is loopback by definition (RFC 6761), in a loopback range (127.0.0.0/8 and ::1/128) ` +
        'that Herald does not deliver to; allow it with SSRF_ALLOW_CIDRS=127.0.0.0/8,::1/128 if you mean it.',
      { field },
    );
  }
  const written = host.replace(/^\[|\]$/g, '');
  const range = describeRange(verdict);
  const single = `${verdict.address}/${verdict.address.includes(':') ? 128 : 32}`;
  throw badInput(
    `${quoted} points at ${verdict.address}${written === verdict.address ? '' : ` (written ${written})`}, in ${/^[aeiou]/i.test(range.name) ? 'an' : 'a'} ${range.name} range ` +
      `(${range.cidr}) that Herald does not deliver to; allow it with SSRF_ALLOW_CIDRS=${range.cidr}` +
      `${range.cidr === single ? '' : ` (or only ${single})`} if you mean it.`,
    { field },
  );
}

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
