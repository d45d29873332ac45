import { describe, expect, it } from 'vitest';
import { REDACTED, redactForAudit } from '../../src/modules/audit/audit-redaction';

describe('redactForAudit', () => {
  it("replaces every secret field of Herald's entities by a marker, keeping the other fields", () => {
    const endpoint = {
      id: 'ep_1',
      url: 'https://example.com/hook',
      secret: 'v1.ciphertext-of-whsec',
      previousSecrets: [{ secret: 'v1.old', expiresAt: '2026-01-01T00:00:00.000Z' }],
      signingKey: 'v1.sealed-ed25519',
      publicKey: 'ed25519-public',
      headers: { authorization: 'Bearer receiver-token', 'x-tenant': 'acme' },
      enabled: true,
    };
    expect(redactForAudit(endpoint)).toEqual({
      id: 'ep_1',
      url: 'https://example.com/hook',
      secret: REDACTED,
      previousSecrets: REDACTED,
      signingKey: REDACTED,
      publicKey: 'ed25519-public',
      headers: { authorization: REDACTED, 'x-tenant': REDACTED },
      enabled: true,
    });
    expect(redactForAudit({ prefix: 'hk_abcdefgh', keyHash: 'f'.repeat(64), key: 'anything' })).toEqual({
      prefix: 'hk_abcdefgh',
      keyHash: REDACTED,
      key: REDACTED,
    });
    // Column names as well as entity fields, at any depth.
    expect(redactForAudit({ session: { token_hash: 'abc', session_hash: 'def', Token: 'x' } })).toEqual({
      session: { token_hash: REDACTED, session_hash: REDACTED, Token: REDACTED },
    });
  });

  it('keeps an unset secret visible as unset (null, empty), so turning one off is on record', () => {
    expect(redactForAudit({ signingKey: null, previousSecrets: [], secret: '' })).toEqual({
      signingKey: null,
      previousSecrets: [],
      secret: '',
    });
  });

  it('replaces secret-shaped strings under any name', () => {
    const apiKey = `hk_abcdefgh_${'A'.repeat(43)}`;
    expect(
      redactForAudit({
        note: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        list: [apiKey, `hpt_${'b'.repeat(43)}`, `hps_${'c'.repeat(43)}`, 'plain'],
        prefix: 'hk_abcdefgh',
      }),
    ).toEqual({ note: REDACTED, list: [REDACTED, REDACTED, REDACTED, 'plain'], prefix: 'hk_abcdefgh' });
  });

  it('gives plain JSON: dates as ISO text, no undefined or functions, and leaves its input alone', () => {
    const input = { at: new Date('2026-12-07T10:00:00.000Z'), gone: undefined, fn: () => 1, n: 1, nested: { secret: 's' } };
    expect(redactForAudit(input)).toEqual({ at: '2026-12-07T10:00:00.000Z', n: 1, nested: { secret: REDACTED } });
    expect(input.nested.secret).toBe('s');
    expect(redactForAudit(null)).toBeNull();
  });
});
