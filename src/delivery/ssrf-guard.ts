import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';
import { buildConnector } from 'undici';

/**
 * SSRF protection for deliveries. The check runs inside the connector, on the address that is about to be
 * dialled, after DNS: a hostname that resolves to a private address, a DNS answer that changes between a
 * check and the connection (rebinding), and every spelling of an address (decimal, octal, hex, short IPv4,
 * IPv4-mapped IPv6) are all caught, because the connector dials exactly the address it checked.
 * Registration makes the same decision early for what needs no DNS (checkHostWithoutDns).
 */

export interface SsrfPolicy {
  /** CIDRs that may be reached even though they are not public (SSRF_ALLOW_CIDRS). */
  allowCidrs: string[];
  /** Loopback is allowed (development with the embedded database). */
  allowLoopback: boolean;
}

type ParsedCidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

export function parseCidr(text: string): ParsedCidr | undefined {
  try {
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const address = ipaddr.parse(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
}

/** Ranges ipaddr.js names that are public unicast and therefore reachable. */
const PUBLIC_RANGES = new Set(['unicast']);

/** IPv4-compatible IPv6 (::a.b.c.d), a range ipaddr.js does not name. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

/** Readable names for the ranges ipaddr.js reports, used in the refusal message. */
const RANGE_NAMES: Record<string, string> = {
  loopback: 'loopback',
  private: 'private network (RFC 1918)',
  linkLocal: 'link-local (169.254.0.0/16 or fe80::/10, where cloud metadata services live)',
  carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
  multicast: 'multicast',
  unspecified: 'unspecified (0.0.0.0 or ::)',
  broadcast: 'broadcast',
  reserved: 'reserved',
  uniqueLocal: 'IPv6 unique-local (fc00::/7)',
  ipv4Compatible: 'IPv4-compatible IPv6 (::/96, deprecated)',
  ipv4Mapped: 'IPv4-mapped',
  rfc6145: 'IPv4-translated',
  rfc6052: 'NAT64 (64:ff9b::/96)',
  '6to4': '6to4 (2002::/16)',
  teredo: 'Teredo (2001::/32)',
  benchmarking: 'benchmarking',
  amt: 'AMT',
  as112: 'AS112',
  deprecated: 'deprecated',
  orchid2: 'ORCHID',
  droneRemoteIdProtocolEntityTags: 'DRIP',
};

export interface AddressVerdict {
  allowed: boolean;
  /** The address as dialled, IPv4-mapped IPv6 shown as IPv4. */
  address: string;
  range: string;
}

/** Decides whether one literal IP address may be dialled. Throws for text that is not an IP address. */
export function checkAddress(ip: string, policy: SsrfPolicy): AddressVerdict {
  let address: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(ip);
  // ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it carries.
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()) {
    address = (address as ipaddr.IPv6).toIPv4Address();
  }
  let range: string = address.range();
  // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291) carries an IPv4 address and is not public unicast,
  // though ipaddr.js calls it 'unicast'; :: and ::1 keep their own ranges.
  if (range === 'unicast' && address.kind() === 'ipv6' && address.match(IPV4_COMPATIBLE)) range = 'ipv4Compatible';
  const text = address.toString();
  if (PUBLIC_RANGES.has(range)) return { allowed: true, address: text, range };
  if (range === 'loopback' && policy.allowLoopback) return { allowed: true, address: text, range };
  for (const cidr of policy.allowCidrs) {
    const parsed = parseCidr(cidr);
    if (parsed && parsed[0].kind() === address.kind() && address.match(parsed as never)) return { allowed: true, address: text, range };
  }
  return { allowed: false, address: text, range };
}

/**
 * The range a verdict names, for people: its short name and the CIDR of the block (of the ranges checkAddress
 * judged by) that holds the address, e.g. `private network`, `10.0.0.0/8`. A single address when none does.
 */
export function describeRange(verdict: AddressVerdict): { name: string; cidr: string } {
  const address = ipaddr.parse(verdict.address);
  const special = (address.kind() === 'ipv4' ? ipaddr.IPv4 : ipaddr.IPv6).prototype as unknown as {
    SpecialRanges: Record<string, ParsedCidr | ParsedCidr[] | undefined>;
  };
  const entry = verdict.range === 'ipv4Compatible' ? IPV4_COMPATIBLE : special.SpecialRanges[verdict.range];
  const blocks = entry === undefined ? [] : Array.isArray(entry[0]) ? (entry as ParsedCidr[]) : [entry as ParsedCidr];
  const block = blocks.find((candidate) => candidate[0].kind() === address.kind() && address.match(candidate));
  const cidr = block ? `${block[0].toString()}/${block[1]}` : `${verdict.address}/${address.kind() === 'ipv4' ? 32 : 128}`;
  return { name: (RANGE_NAMES[verdict.range] ?? verdict.range).replace(/ \(.*\)$/, ''), cidr };
}

/** localhost and *.localhost, in any case, with or without the final dot: loopback by definition (RFC 6761). */
export function isLocalhostName(hostname: string): boolean {
  return /(^|\.)localhost\.?$/i.test(hostname);
}

/**
 * What can be decided about a URL's host without DNS, for endpoint registration: the same decision as
 * checkAddress for an IP address (a WHATWG URL hostname, where every IPv4 spelling is already dotted and IPv6
 * is in brackets), and loopback for a localhost name (allowed when 127.0.0.1 or ::1 would be). Undefined for
 * any other name: it needs DNS, and the connector checks what it resolves to when delivering.
 */
export function checkHostWithoutDns(hostname: string, policy: SsrfPolicy): AddressVerdict | undefined {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (net.isIP(host)) return checkAddress(host, policy);
  if (!isLocalhostName(host)) return undefined;
  const v4 = checkAddress('127.0.0.1', policy);
  if (v4.allowed) return v4;
  const v6 = checkAddress('::1', policy);
  return v6.allowed ? v6 : v4;
}

/** The refusal every blocked attempt records: what was refused, why, and how to allow it. */
export class BlockedDestinationError extends Error {
  override name = 'BlockedDestinationError';
  readonly code = 'ERR_HERALD_BLOCKED';
  constructor(
    readonly hostname: string,
    readonly verdict: AddressVerdict,
  ) {
    const via = hostname === verdict.address ? '' : net.isIP(hostname) ? ` (written ${hostname})` : ` (${hostname} resolves to it)`;
    const allow = verdict.address.includes(':') ? `${verdict.address}/128` : `${verdict.address}/32`;
    super(
      `Blocked by SSRF protection: ${verdict.address}${via} is a ${RANGE_NAMES[verdict.range] ?? verdict.range} address. ` +
        `To deliver there on purpose, add it (for example ${allow}) or its network to SSRF_ALLOW_CIDRS.`,
    );
  }
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** DNS resolution as the connector uses it; tests inject one that answers from a table. */
export type LookupAll = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemLookup: LookupAll = (hostname) => dns.promises.lookup(hostname, { all: true, verbatim: true });

/**
 * Resolves a host and checks every address it resolves to. Any blocked address refuses the whole host:
 * an attacker with a DNS name could otherwise race a public and a private answer. Returns the address
 * to dial (the first one).
 */
export async function resolveAllowed(hostname: string, policy: SsrfPolicy, lookup: LookupAll): Promise<ResolvedAddress> {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = net.isIP(host);
  const addresses = family ? [{ address: host, family }] : await lookup(host);
  if (addresses.length === 0) throw Object.assign(new Error(`DNS returned no address for ${host}`), { code: 'ENOTFOUND' });
  for (const resolved of addresses) {
    const verdict = checkAddress(resolved.address, policy);
    if (!verdict.allowed) throw new BlockedDestinationError(host, verdict);
  }
  return addresses[0]!;
}

/**
 * An undici connector that dials only checked addresses. `dial` is undici's own connector unless a test
 * injects one that records what would have been dialled. TLS still verifies the certificate against the
 * hostname (SNI and checks use the original host, the socket goes to the checked IP).
 */
export function createGuardedConnector(options: {
  policy: SsrfPolicy;
  lookup?: LookupAll;
  dial?: buildConnector.connector;
  connectTimeoutMs?: number;
}): buildConnector.connector {
  const lookup = options.lookup ?? systemLookup;
  const dial = options.dial ?? buildConnector({ timeout: options.connectTimeoutMs ?? 10_000 });
  return (connectOptions, callback) => {
    resolveAllowed(connectOptions.hostname, options.policy, lookup).then(
      (resolved) => {
        const originalHost = connectOptions.hostname.replace(/^\[|\]$/g, '');
        dial(
          {
            ...connectOptions,
            hostname: resolved.address,
            servername: connectOptions.servername ?? (net.isIP(originalHost) ? undefined : originalHost),
          },
          callback,
        );
      },
      (error: Error) => callback(error, null),
    );
  };
}
