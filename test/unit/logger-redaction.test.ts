import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger';
import { redactCredentials } from '../../src/lib/redaction';

describe('log lines are scrubbed of credentials, wherever they appear', () => {
  const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
  const apiKey = `hk_ab12cd34_${'Z'.repeat(43)}`;

  it('redacts secrets, API keys, bearer tokens and signatures inside an error message (a driver quoting its SQL)', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', pretty: false, destination: { write: (line: string) => void lines.push(line) } });
    const error = new Error(
      `insert into "endpoints" ("secret", "headers") values ('${secret}', '{"authorization":"Bearer abc.def-123"}') - key ${apiKey} ` +
        `signature v1,${Buffer.alloc(32, 1).toString('base64')} whsk_${Buffer.alloc(64, 2).toString('base64')}`,
    );
    logger.error({ err: error, note: `presented ${apiKey}` }, `failed with ${secret}`);
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const needle of [secret, secret.slice(6), apiKey, 'abc.def-123', Buffer.alloc(32, 1).toString('base64'), 'whsk_A']) {
      expect(line).not.toContain(needle);
    }
    expect(line).toContain('[redacted]');
    expect(line).toContain('insert into');
    expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('leaves ordinary text alone', () => {
    expect(redactCredentials('delivery dlv_01abc to https://example.com/hook answered 500')).toBe(
      'delivery dlv_01abc to https://example.com/hook answered 500',
    );
    expect(redactCredentials('Authorization: Bearer xyz')).toBe('Authorization: Bearer [redacted]');
  });
});
