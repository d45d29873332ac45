import { describe, expect, it } from 'vitest';
import { ErrorCode, HeraldError } from '../../src/lib/errors';
import { MAX_URL_LENGTH, validateEndpointUrl } from '../../src/modules/endpoints/endpoint-url';

function refusal(raw: string, field?: string): HeraldError {
  try {
    validateEndpointUrl(raw, field);
  } catch (error) {
    expect(error).toBeInstanceOf(HeraldError);
    const herald = error as HeraldError;
    expect(herald.code).toBe(ErrorCode.BAD_USER_INPUT);
    expect(herald.details).toEqual({ field: field ?? 'url' });
    return herald;
  }
  throw new Error(`expected ${JSON.stringify(raw.slice(0, 80))} to be refused`);
}

describe('validateEndpointUrl: accepted URLs', () => {
  it.each([
    ['https://example.com/webhooks', 'https://example.com/webhooks'],
    ['http://example.com', 'http://example.com/'],
    ['https://EXAMPLE.com:8443/Path?q=1&r=two', 'https://example.com:8443/Path?q=1&r=two'],
    ['http://127.0.0.1:3000/hook', 'http://127.0.0.1:3000/hook'],
    ['http://[::1]:8080/hook', 'http://[::1]:8080/hook'],
    ['https://example.com:443/x', 'https://example.com/x'],
    ['HTTPS://example.com/x', 'https://example.com/x'],
    ['https://bücher.example/x', 'https://xn--bcher-kva.example/x'],
    ['https://example.com/a b', 'https://example.com/a%20b'],
  ])('accepts %s as %s', (raw, normalised) => {
    expect(validateEndpointUrl(raw)).toBe(normalised);
  });

  it('trims surrounding whitespace', () => {
    expect(validateEndpointUrl('  https://example.com/hook \n')).toBe('https://example.com/hook');
  });

  it('drops the fragment, which is never sent', () => {
    expect(validateEndpointUrl('https://example.com/hook?x=1#section')).toBe('https://example.com/hook?x=1');
  });

  it('accepts a URL of exactly the maximum length', () => {
    const prefix = 'https://example.com/';
    const url = prefix + 'a'.repeat(MAX_URL_LENGTH - prefix.length);
    expect(url).toHaveLength(2048);
    expect(validateEndpointUrl(url)).toBe(url);
  });
});

describe('validateEndpointUrl: refused URLs', () => {
  it('refuses an empty or blank URL', () => {
    expect(refusal('').message).toMatch(/empty.*http:\/\/ or https:\/\//);
    expect(refusal('   \t\n').message).toMatch(/empty/);
  });

  it('refuses an overlong URL, saying its length and the limit', () => {
    const url = `https://example.com/${'a'.repeat(3000)}`;
    const error = refusal(url);
    expect(MAX_URL_LENGTH).toBe(2048);
    expect(error.message).toContain(String(url.length));
    expect(error.message).toContain('2048');
    const justOver = `https://example.com/${'a'.repeat(2048 - 20 + 1)}`;
    expect(justOver).toHaveLength(2049);
    expect(refusal(justOver).message).toMatch(/2049 characters long; the limit is 2048/);
  });

  it.each(['javascript:alert(1)', 'JavaScript:alert(document.cookie)'])('refuses %s as a non-http scheme', (raw) => {
    expect(refusal(raw).message).toBe('Endpoint URLs must use http or https, not "javascript".');
  });

  it.each([
    ['ftp://example.com/file', 'ftp'],
    ['file:///etc/passwd', 'file'],
    ['data:text/plain,hello', 'data'],
    ['ws://example.com/socket', 'ws'],
    ['mailto:ops@example.com', 'mailto'],
    ['gopher://example.com', 'gopher'],
  ])('refuses %s, naming the scheme', (raw, scheme) => {
    const error = refusal(raw);
    expect(error.message).toBe(`Endpoint URLs must use http or https, not "${scheme}".`);
  });

  it.each(['https://alice:hunter2@example.com/hook', 'https://alice@example.com/hook', 'http://:hunter2@example.com/'])(
    'refuses credentials in %s without echoing them',
    (raw) => {
      const error = refusal(raw);
      expect(error.message).toMatch(/must not contain credentials/);
      expect(error.message).toMatch(/custom header/);
      expect(error.message).not.toContain('alice');
      expect(error.message).not.toContain('hunter2');
    },
  );

  it.each([
    'not a url',
    'example.com/hook',
    '/relative/path',
    'https://',
    'http://exa mple.com',
    '://missing-scheme',
    'https://[::1',
    'http://example.com:99999/',
  ])('refuses garbage %j as not a valid URL', (raw) => {
    expect(refusal(raw).message).toMatch(/is not a valid URL: give an absolute http:\/\/ or https:\/\/ URL\./);
  });

  it('quotes at most 100 characters of an invalid URL', () => {
    const raw = `not a url ${'x'.repeat(500)}`;
    const message = refusal(raw).message;
    expect(message).toContain(`"${raw.slice(0, 100)}"`);
    expect(message).not.toContain(raw.slice(0, 101));
  });

  it('reports the field name it is given', () => {
    refusal('', 'input.url');
    refusal('ftp://x', 'input.url');
  });
});
