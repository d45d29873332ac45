import { afterEach, describe, expect, it, vi } from 'vitest';
import { CLIENT_USAGE } from '../../src/cli/client-usage';
import { MISSING_API_KEY_MESSAGE, startedByNpm } from '../../src/config/cli';
import { printAdminKey } from '../../src/herald';

describe('the CLI texts name commands a new user can run (npx herald, from the project folder)', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the first admin key box says how the CLI reads the key and how to make more', () => {
    let printed = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed += String(chunk);
      return true;
    });
    const key = `hk_abcdefgh_${'A'.repeat(43)}`;
    printAdminKey(key);
    const lines = printed.trimEnd().split('\n');
    expect(printed).toContain(key);
    expect(printed).toContain('More keys: npx herald keys create --name <name>');
    expect(printed).toContain('reads it from HERALD_API_KEY or --api-key');
    // `herald` alone is not on a new user's PATH.
    expect(printed).not.toMatch(/(?<!npx )herald keys create/);
    // A box: every line as wide as the border, no wider than the one the README shows.
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
    expect(lines[0]!.length).toBeLessThanOrEqual(100);
  });

  it('the missing-key error and the help name --api-key, HERALD_API_KEY, HERALD_URL and npx herald keys create', () => {
    for (const text of [MISSING_API_KEY_MESSAGE, CLIENT_USAGE]) {
      expect(text).toContain('--api-key');
      expect(text).toContain('HERALD_API_KEY');
      expect(text).toContain('npx herald keys create --name <name>');
    }
    expect(CLIENT_USAGE).toContain('HERALD_URL (default http://127.0.0.1:4000)');
  });

  it('knows when npm (npm run, npx) started the process', () => {
    expect(startedByNpm({ npm_lifecycle_event: 'herald' })).toBe(true);
    expect(startedByNpm({ npm_lifecycle_event: 'npx' })).toBe(true);
    expect(startedByNpm({})).toBe(false);
  });
});
