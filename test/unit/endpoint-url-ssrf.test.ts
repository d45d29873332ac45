import dns from 'node:dns';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BlockedDestinationError, type SsrfPolicy, checkAddress, resolveAllowed } from '../../src/delivery/ssrf-guard';
import { ErrorCode, HeraldError } from '../../src/lib/errors';
import { validateReceiverUrl } from '../../src/modules/endpoints/endpoint-url';

/**
 * The registration-time SSRF check: what delivery would refuse without needing DNS (an IP address in any
 * spelling, a localhost name) is refused when an endpoint URL is set. Nothing here resolves a name: the
 * check is pure, and every DNS entry point is watched to prove it.
 */
const STRICT: SsrfPolicy = { allowCidrs: [], allowLoopback: false };

function refusal(raw: string, policy: SsrfPolicy = STRICT): string {
  try {
    validateReceiverUrl(raw, policy);
  } catch (error) {
    expect(error).toBeInstanceOf(HeraldError);
    const herald = error as HeraldError;
    expect(herald.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(herald.details).toEqual({ field: 'url' });
    return herald.message;
  }
  throw new Error(`expected ${raw} to be refused`);
}

// [url, the address it points at, the range named, the CIDR named (and suggested for SSRF_ALLOW_CIDRS)]
const REFUSED: Array<[string, string, string, string]> = [
  // The examples.
  ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', 'link-local', '169.254.0.0/16'],
  ['http://10.0.0.5/hook', '10.0.0.5', 'private network', '10.0.0.0/8'],
  ['http://[::ffff:127.0.0.1]/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://2130706433/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  // IPv4 spellings WHATWG URL parsing normalises: decimal, octal, hex, short forms, mixed, trailing dot.
  ['http://0177.0.0.1/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://0x7f000001/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://0x7f.1/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://127.1/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://017700000001/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://167772165/', '10.0.0.5', 'private network', '10.0.0.0/8'],
  ['http://10.5/', '10.0.0.5', 'private network', '10.0.0.0/8'],
  ['http://0xa9fea9fe/latest/', '169.254.169.254', 'link-local', '169.254.0.0/16'],
  ['http://10.0.0.5./hook', '10.0.0.5', 'private network', '10.0.0.0/8'],
  ['http://172.16.0.1:8080/', '172.16.0.1', 'private network', '172.16.0.0/12'],
  ['http://192.168.1.1/', '192.168.1.1', 'private network', '192.168.0.0/16'],
  ['http://0.0.0.0/', '0.0.0.0', 'unspecified', '0.0.0.0/8'],
  ['http://0/', '0.0.0.0', 'unspecified', '0.0.0.0/8'],
  ['http://100.64.0.1/', '100.64.0.1', 'carrier-grade NAT', '100.64.0.0/10'],
  ['http://224.0.0.1/', '224.0.0.1', 'multicast', '224.0.0.0/4'],
  ['http://255.255.255.255/', '255.255.255.255', 'broadcast', '255.255.255.255/32'],
  ['http://198.51.100.7/', '198.51.100.7', 'reserved', '198.51.100.0/24'],
  // IPv6, and IPv6 forms that carry an IPv4 address.
  ['http://[::ffff:7f00:1]/', '127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['http://[::ffff:a9fe:a9fe]/', '169.254.169.254', 'link-local', '169.254.0.0/16'],
  ['http://[::127.0.0.1]/', '::7f00:1', 'IPv4-compatible IPv6', '::/96'],
  ['http://[::a00:5]/', '::a00:5', 'IPv4-compatible IPv6', '::/96'],
  ['http://[64:ff9b::a00:5]/', '64:ff9b::a00:5', 'NAT64', '64:ff9b::/96'],
  ['http://[64:ff9b::10.0.0.5]/', '64:ff9b::a00:5', 'NAT64', '64:ff9b::/96'],
  ['http://[2002:a00:5::]/', '2002:a00:5::', '6to4', '2002::/16'],
  ['http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/', '2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo', '2001::/32'],
  ['http://[::1]/', '::1', 'loopback', '::1/128'],
  ['http://[0:0:0:0:0:0:0:1]:8080/', '::1', 'loopback', '::1/128'],
  ['http://[::]/', '::', 'unspecified', '::/128'],
  ['http://[fe80::1]/', 'fe80::1', 'link-local', 'fe80::/10'],
  ['http://[fd00::1]/', 'fd00::1', 'IPv6 unique-local', 'fc00::/7'],
  ['http://[ff02::1]/', 'ff02::1', 'multicast', 'ff00::/8'],
  ['http://[2001:db8::1]/', '2001:db8::1', 'reserved', '2001:db8::/32'],
];

// Names that are loopback by definition (RFC 6761): refused without asking DNS.
const LOCALHOST = [
  'http://localhost/',
  'http://localhost:3000/hook',
  'http://LOCALHOST./',
  'http://foo.localhost/',
  'https://a.b.LocalHost.:8443/x',
];

describe('validateReceiverUrl: the registration-time SSRF check', () => {
  const dnsCalls: string[] = [];
  beforeEach(() => {
    dnsCalls.length = 0;
    const watch = (name: string) => () => {
      dnsCalls.push(name);
      throw new Error(`DNS was asked (${name}): the registration check must never resolve names`);
    };
    vi.spyOn(dns, 'lookup').mockImplementation(watch('dns.lookup'));
    vi.spyOn(dns, 'resolve').mockImplementation(watch('dns.resolve'));
    vi.spyOn(dns.promises, 'lookup').mockImplementation(watch('dns.promises.lookup'));
    vi.spyOn(dns.promises, 'resolve').mockImplementation(watch('dns.promises.resolve'));
  });
  afterEach(() => {
    expect(dnsCalls).toEqual([]);
    vi.restoreAllMocks();
  });

  it('covers the spellings it should', () => {
    expect(REFUSED.length).toBeGreaterThanOrEqual(35);
  });

  it.each(REFUSED)('refuses %s: it points at %s, in the %s range %s', (url, address, range, cidr) => {
    const message = refusal(url);
    expect(message).toContain(`"${url}" points at ${address}`);
    expect(message).toContain(`${range} range (${cidr}) that Herald does not deliver to`);
    expect(message).toContain(`allow it with SSRF_ALLOW_CIDRS=${cidr}`);
  });

  it('says what the issue asks for, word for word, for a private address', () => {
    expect(refusal('http://10.0.0.5/hook')).toBe(
      '"http://10.0.0.5/hook" points at 10.0.0.5, in a private network range (10.0.0.0/8) that Herald does not deliver to; ' +
        'allow it with SSRF_ALLOW_CIDRS=10.0.0.0/8 (or only 10.0.0.5/32) if you mean it.',
    );
    expect(refusal('http://[::ffff:127.0.0.1]/')).toMatch(
      /^"http:\/\/\[::ffff:127\.0\.0\.1\]\/" points at 127\.0\.0\.1 \(written ::ffff:7f00:1\), in a loopback/,
    );
  });

  it.each(LOCALHOST)('refuses %s as loopback by definition, without DNS', (url) => {
    const message = refusal(url);
    expect(message).toMatch(
      /points at [a-z.]*localhost\.?, which is loopback by definition \(RFC 6761\), in a loopback range \(127\.0\.0\.0\/8 and ::1\/128\)/i,
    );
    expect(message).toContain('allow it with SSRF_ALLOW_CIDRS=127.0.0.0/8,::1/128 if you mean it.');
  });

  it.each([
    ['http://93.184.216.34/hook', 'http://93.184.216.34/hook'],
    ['http://1572395042/hook', 'http://93.184.216.34/hook'],
    ['http://[2606:2800:220:1:248:1893:25c8:1946]/hook', 'http://[2606:2800:220:1:248:1893:25c8:1946]/hook'],
    ['http://[::ffff:93.184.216.34]/', 'http://[::ffff:5db8:d822]/'],
    ['https://example.com/webhooks', 'https://example.com/webhooks'],
    ['https://localhost.example.com/', 'https://localhost.example.com/'],
    ['https://mylocalhost/', 'https://mylocalhost/'],
    ['http://internal.corp/', 'http://internal.corp/'],
    ['http://10.0.0.5.nip.io/', 'http://10.0.0.5.nip.io/'],
  ])('accepts %s: a public address, or a name that is checked when delivering (no DNS now)', (raw, normalised) => {
    expect(validateReceiverUrl(raw, STRICT)).toBe(normalised);
  });

  it('still refuses what validateEndpointUrl refuses', () => {
    expect(refusal('ftp://10.0.0.5/')).toMatch(/must use http or https/);
    expect(refusal('http://user:pw@10.0.0.5/')).toMatch(/credentials/);
  });

  it('accepts what SSRF_ALLOW_CIDRS covers, and loopback (names included) when loopback is allowed', () => {
    const allowList: SsrfPolicy = { allowCidrs: ['169.254.0.0/16', '127.0.0.0/8', '10.0.0.0/8'], allowLoopback: false };
    expect(validateReceiverUrl('http://169.254.169.254/latest/meta-data/', allowList)).toBe('http://169.254.169.254/latest/meta-data/');
    expect(validateReceiverUrl('http://2130706433/', allowList)).toBe('http://127.0.0.1/');
    expect(validateReceiverUrl('http://[::ffff:10.0.0.5]/', allowList)).toBe('http://[::ffff:a00:5]/');
    expect(validateReceiverUrl('http://localhost:3000/', allowList)).toBe('http://localhost:3000/');
    // The allow-list covers only what it says: the rest stays refused, and so do the transition forms
    // (judged as IPv6, as delivery judges them).
    expect(refusal('http://192.168.1.1/', allowList)).toMatch(/192\.168\.0\.0\/16/);
    expect(refusal('http://[::1]/', allowList)).toMatch(/::1\/128/);
    expect(refusal('http://[64:ff9b::a00:5]/', allowList)).toMatch(/NAT64/);

    const development: SsrfPolicy = { allowCidrs: [], allowLoopback: true };
    for (const url of ['http://127.0.0.1:3000/', 'http://[::1]/', 'http://2130706433/', 'http://localhost/', 'http://foo.localhost./']) {
      expect(() => validateReceiverUrl(url, development), url).not.toThrow();
    }
    expect(refusal('http://169.254.169.254/', development)).toMatch(/link-local/);
    expect(refusal('http://[::127.0.0.1]/', development)).toMatch(/IPv4-compatible/);
  });
});

describe('the delivery-time guard refuses IPv4-compatible IPv6 (::a.b.c.d), as registration does', () => {
  it('is not public unicast, though ipaddr.js calls it so', async () => {
    expect(checkAddress('::7f00:1', STRICT)).toEqual({ allowed: false, address: '::7f00:1', range: 'ipv4Compatible' });
    expect(checkAddress('::5db8:d822', STRICT)).toMatchObject({ allowed: false, range: 'ipv4Compatible' });
    expect(checkAddress('::7f00:1', { allowCidrs: ['::/96'], allowLoopback: false }).allowed).toBe(true);
    // :: and ::1 keep their own ranges.
    expect(checkAddress('::', STRICT).range).toBe('unspecified');
    expect(checkAddress('::1', STRICT).range).toBe('loopback');
    const noDns = () => Promise.reject(new Error('DNS must not be asked about an address'));
    await expect(resolveAllowed('[::7f00:1]', STRICT, noDns)).rejects.toThrow(BlockedDestinationError);
    await expect(resolveAllowed('[::7f00:1]', STRICT, noDns)).rejects.toThrow(/::7f00:1 is a IPv4-compatible/);
  });
});
