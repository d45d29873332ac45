import net from 'node:net';
import type { buildConnector } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookHttpClient } from '../../src/delivery/http-client';
import { type LookupAll, type ResolvedAddress, type SsrfPolicy, checkAddress } from '../../src/delivery/ssrf-guard';
import { WebhookReceiver } from '../helpers/receiver';

/**
 * No test here reaches any address but 127.0.0.1: DNS answers come from a table and the dialler records
 * the address it was asked for, then connects to a local receiver instead (for the targets that are
 * allowed) or is never called (for the ones that are refused).
 */
const PUBLIC_V4 = '93.184.216.34';
const PUBLIC_V6 = '2606:2800:220:1:248:1893:25c8:1946';

const DNS: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'internal.example': ['10.1.2.3'],
  'metadata.google.internal': ['169.254.169.254'],
  'cgnat.example': ['100.100.100.100'],
  'private-v6.example': ['fd00::1'],
  'mapped.example': ['::ffff:10.0.0.5'],
  'loopback-alias.example': ['127.0.0.2'],
  'mixed.example': [PUBLIC_V4, '192.168.0.10'],
  'public.example': [PUBLIC_V4],
  'public-v6.example': [PUBLIC_V6],
};

function tableLookup(log: string[]): LookupAll {
  return async (hostname) => {
    log.push(hostname);
    const answers = DNS[hostname];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: net.isIP(address) }));
  };
}

/** Records every address it is asked to dial and connects to the local receiver instead. */
function recordingDialler(dialled: string[], localPort: () => number): buildConnector.connector {
  return (options, callback) => {
    dialled.push(options.hostname);
    const socket = net.connect({ host: '127.0.0.1', port: localPort() });
    socket.once('connect', () => callback(null, socket));
    socket.once('error', (error) => callback(error, null));
  };
}

const STRICT: SsrfPolicy = { allowCidrs: [], allowLoopback: false };

// [url, range named in the refusal]: every spelling is refused before any connection is made.
const REFUSED: Array<[string, RegExp]> = [
  ['http://127.0.0.1/', /127\.0\.0\.1 is a loopback/],
  ['http://127.1/', /127\.0\.0\.1 is a loopback/],
  ['http://2130706433/', /127\.0\.0\.1 is a loopback/],
  ['http://0x7f000001/', /127\.0\.0\.1 is a loopback/],
  ['http://0177.0.0.1/', /127\.0\.0\.1 is a loopback/],
  ['http://0x7f.0.0.1/', /127\.0\.0\.1 is a loopback/],
  ['http://017700000001/', /127\.0\.0\.1 is a loopback/],
  ['http://127.255.255.254:8080/', /loopback/],
  ['http://localhost/', /127\.0\.0\.1 \(localhost resolves to it\) is a loopback/],
  ['http://loopback-alias.example/', /127\.0\.0\.2 .*loopback/],
  ['http://[::1]/', /::1 is a loopback/],
  ['http://[0:0:0:0:0:0:0:1]/', /::1 is a loopback/],
  ['http://[::ffff:127.0.0.1]/', /127\.0\.0\.1 \(written ::ffff:7f00:1\) is a loopback/],
  ['http://[::ffff:7f00:1]/', /127\.0\.0\.1 \(written ::ffff:7f00:1\) is a loopback/],
  ['http://10.0.0.1/', /private network/],
  ['http://0xa.0.0.1/', /10\.0\.0\.1 is a private/],
  ['http://012.0.0.1/', /10\.0\.0\.1 is a private/],
  ['http://167772161/', /10\.0\.0\.1 is a private/],
  ['http://10.1/', /10\.0\.0\.1 is a private/],
  ['http://172.16.0.1/', /private network/],
  ['http://172.31.255.254/', /private network/],
  ['http://192.168.1.1/', /private network/],
  ['http://3232235777/', /192\.168\.1\.1 is a private/],
  ['http://0xc0a80101/', /192\.168\.1\.1 is a private/],
  ['http://[::ffff:10.0.0.1]/', /10\.0\.0\.1 \(written ::ffff:a00:1\) is a private/],
  ['http://[::ffff:c0a8:1]/', /192\.168\.0\.1 \(written ::ffff:c0a8:1\) is a private/],
  ['http://internal.example/hook', /10\.1\.2\.3 \(internal\.example resolves to it\) is a private/],
  ['http://mixed.example/', /192\.168\.0\.10 \(mixed\.example resolves to it\)/],
  ['http://169.254.169.254/latest/meta-data/', /link-local .*metadata/],
  ['http://2852039166/', /169\.254\.169\.254 is a link-local/],
  ['http://0xa9fea9fe/', /169\.254\.169\.254 is a link-local/],
  ['http://[::ffff:169.254.169.254]/', /169\.254\.169\.254 \(written ::ffff:a9fe:a9fe\) is a link-local/],
  ['http://metadata.google.internal/computeMetadata/v1/', /169\.254\.169\.254 \(metadata\.google\.internal resolves to it\)/],
  ['http://[fe80::1]/', /fe80::1 is a link-local/],
  ['http://100.64.0.1/', /carrier-grade NAT/],
  ['http://cgnat.example/', /100\.100\.100\.100 .*carrier-grade NAT/],
  ['http://224.0.0.1/', /multicast/],
  ['http://239.255.255.250:1900/', /multicast/],
  ['http://[ff02::1]/', /ff02::1 is a multicast/],
  ['http://0.0.0.0/', /unspecified/],
  ['http://0/', /0\.0\.0\.0 is a unspecified|unspecified/],
  ['http://[::]/', /unspecified/],
  ['http://255.255.255.255/', /broadcast/],
  ['http://[fc00::1]/', /unique-local/],
  ['http://[fd12:3456:789a::1]/', /unique-local/],
  ['http://private-v6.example/', /fd00::1 .*unique-local/],
  ['http://mapped.example/', /10\.0\.0\.5 \(mapped\.example resolves to it\) is a private/],
  ['http://[64:ff9b::a00:1]/', /NAT64/],
];

describe('SSRF guard: refuses non-public destinations on the resolved address, in every spelling', () => {
  let receiver: WebhookReceiver;
  let redirector: WebhookReceiver;
  const port = (target: WebhookReceiver) => Number(new URL(target.url).port);

  beforeAll(async () => {
    receiver = await WebhookReceiver.start();
    redirector = await WebhookReceiver.start(() => ({ status: 302, headers: { location: receiver.url } }));
  });
  afterAll(async () => {
    await receiver?.close();
    await redirector?.close();
  });

  async function post(url: string, policy: SsrfPolicy, lookup: LookupAll, dialTo: () => number = () => port(receiver)) {
    const dialled: string[] = [];
    const client = WebhookHttpClient.guarded(policy, { lookup, dial: recordingDialler(dialled, dialTo) });
    try {
      const outcome = await client.post({
        url,
        headers: { 'content-type': 'application/json' },
        body: '{}',
        timeoutMs: 5000,
        responseBodyMaxBytes: 1024,
      });
      return { outcome, dialled };
    } finally {
      await client.close();
    }
  }

  it('has at least 40 cases', () => {
    expect(REFUSED.length).toBeGreaterThanOrEqual(40);
  });

  it.each(REFUSED)('refuses %s as BLOCKED without dialling, saying how to allow it', async (url, range) => {
    const before = receiver.requests.length;
    const { outcome, dialled } = await post(url, STRICT, tableLookup([]));
    expect(outcome).toMatchObject({ ok: false, statusCode: null, errorKind: 'BLOCKED' });
    expect(outcome.errorMessage).toMatch(range);
    expect(outcome.errorMessage).toMatch(/SSRF_ALLOW_CIDRS/);
    expect(dialled).toEqual([]);
    expect(receiver.requests.length).toBe(before);
  });

  it.each([
    ['http://public.example/hook', PUBLIC_V4],
    ['http://public-v6.example/hook', PUBLIC_V6],
    [`http://${PUBLIC_V4}/hook`, PUBLIC_V4],
    [`http://[${PUBLIC_V6}]/hook`, PUBLIC_V6],
    ['http://1572395042/hook', PUBLIC_V4],
  ])('delivers to the public target %s, dialling exactly the checked address', async (url, address) => {
    const before = receiver.requests.length;
    const { outcome, dialled } = await post(url, STRICT, tableLookup([]));
    expect(outcome).toMatchObject({ ok: true, statusCode: 200, errorKind: null });
    expect(dialled).toEqual([address]);
    expect(receiver.requests.length).toBe(before + 1);
  });

  it('never follows a redirect, so a public receiver cannot bounce a delivery to loopback', async () => {
    const before = receiver.requests.length;
    const { outcome, dialled } = await post('http://public.example/hook', STRICT, tableLookup([]), () => port(redirector));
    expect(outcome).toMatchObject({ ok: false, statusCode: 302, errorKind: 'HTTP_STATUS' });
    expect(outcome.errorMessage).toMatch(/redirects are not followed/);
    expect(dialled).toEqual([PUBLIC_V4]);
    expect(redirector.requests).toHaveLength(1);
    expect(receiver.requests.length).toBe(before);
  });

  it('DNS rebinding: the address dialled is the one checked, whatever DNS answers afterwards', async () => {
    // A resolver that answers public first and loopback on every later question.
    let calls = 0;
    const rebinding: LookupAll = async () => {
      calls += 1;
      return [{ address: calls === 1 ? PUBLIC_V4 : '127.0.0.1', family: 4 }];
    };
    const first = await post('http://rebind.example/', STRICT, rebinding);
    expect(first.outcome.ok).toBe(true);
    expect(first.dialled).toEqual([PUBLIC_V4]);
    expect(calls).toBe(1);
    // The next connection asks again, gets loopback, and is refused before dialling.
    const second = await post('http://rebind.example/', STRICT, rebinding);
    expect(second.outcome.errorKind).toBe('BLOCKED');
    expect(second.dialled).toEqual([]);

    // And the other way round: private at first, public later; the private answer is refused.
    let flips = 0;
    const flipping: LookupAll = async () => [{ address: flips++ === 0 ? '10.9.9.9' : PUBLIC_V4, family: 4 } as ResolvedAddress];
    const refused = await post('http://flip.example/', STRICT, flipping);
    expect(refused.outcome.errorKind).toBe('BLOCKED');
    expect(refused.dialled).toEqual([]);
  });

  it('allows private targets only when a CIDR allow-list says so, and loopback in development mode', async () => {
    const allowList: SsrfPolicy = { allowCidrs: ['10.0.0.0/8', 'fd00::/8'], allowLoopback: false };
    expect((await post('http://internal.example/', allowList, tableLookup([]))).dialled).toEqual(['10.1.2.3']);
    expect((await post('http://private-v6.example/', allowList, tableLookup([]))).dialled).toEqual(['fd00::1']);
    expect((await post('http://[::ffff:10.0.0.1]/', allowList, tableLookup([]))).dialled).toEqual(['::ffff:a00:1']);
    expect((await post('http://192.168.1.1/', allowList, tableLookup([]))).outcome.errorKind).toBe('BLOCKED');
    expect((await post('http://127.0.0.1/', allowList, tableLookup([]))).outcome.errorKind).toBe('BLOCKED');

    const development: SsrfPolicy = { allowCidrs: [], allowLoopback: true };
    expect((await post('http://localhost/', development, tableLookup([]))).outcome.ok).toBe(true);
    expect((await post('http://169.254.169.254/', development, tableLookup([]))).outcome.errorKind).toBe('BLOCKED');
  });

  it('does not ask DNS about address literals', async () => {
    const asked: string[] = [];
    await post('http://0x7f000001/', STRICT, tableLookup(asked));
    await post(`http://${PUBLIC_V4}/`, STRICT, tableLookup(asked));
    expect(asked).toEqual([]);
  });

  it('checkAddress names the range and treats IPv4-mapped IPv6 as the IPv4 address it carries', () => {
    expect(checkAddress('::ffff:192.168.0.1', STRICT)).toEqual({ allowed: false, address: '192.168.0.1', range: 'private' });
    expect(checkAddress('8.8.8.8', STRICT)).toEqual({ allowed: true, address: '8.8.8.8', range: 'unicast' });
    expect(() => checkAddress('not an ip', STRICT)).toThrow();
  });
});
