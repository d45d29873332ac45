import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, parsePage } from '../../src/graphql/pagination';
import { encodeCursor, toConnection } from '../../src/lib/pagination';
import { newId } from '../../src/lib/ids';
import { ErrorCode, HeraldError } from '../../src/lib/errors';

function refusal(fn: () => unknown): HeraldError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).code).toBe(ErrorCode.BAD_USER_INPUT);
    return error as HeraldError;
  }
  throw new Error('expected a BAD_USER_INPUT HeraldError');
}

describe('parsePage', () => {
  it('defaults to 20 rows from the start', () => {
    expect(DEFAULT_PAGE_SIZE).toBe(20);
    expect(parsePage(undefined)).toEqual({ limit: 20, afterId: null });
    expect(parsePage({})).toEqual({ limit: 20, afterId: null });
  });

  it('treats GraphQL nulls like missing values', () => {
    const nulls = { first: null, after: null } as unknown as { first?: number; after?: string };
    expect(parsePage(nulls)).toEqual({ limit: 20, afterId: null });
  });

  it('accepts first from 1 to 100', () => {
    expect(MAX_PAGE_SIZE).toBe(100);
    expect(parsePage({ first: 1 }).limit).toBe(1);
    expect(parsePage({ first: 100 }).limit).toBe(100);
  });

  it.each([0, -1, 101, 1000, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses first = %s', (first) => {
    const error = refusal(() => parsePage({ first }));
    expect(error.details).toEqual({ field: 'first' });
    expect(error.message).toMatch(/"first" must be between 1 and 100/);
    expect(error.message).toContain(String(first));
  });

  it('round-trips a cursor made by encodeCursor', () => {
    const id = newId('evt');
    expect(parsePage({ first: 5, after: encodeCursor(id) })).toEqual({ limit: 5, afterId: id });
  });

  it('produces URL-safe opaque cursors', () => {
    const cursor = encodeCursor(newId('dlv'));
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain('dlv_');
  });

  it.each([
    ['an empty string', ''],
    ['garbage', 'not-a-cursor!!'],
    ['a raw id', 'evt_01hzzzzzzzzzzzzzzzzzzzzz'],
    ['a cursor with the wrong prefix', Buffer.from('c2:evt_abc').toString('base64url')],
    ['a cursor with an empty id', Buffer.from('c1:').toString('base64url')],
    ['a cursor with an invalid id', Buffer.from("c1:evt_abc' OR 1=1").toString('base64url')],
    ['a cursor with upper-case id', Buffer.from('c1:EVT_ABC').toString('base64url')],
    ['a cursor without prefix separator', Buffer.from('c1:abc').toString('base64url')],
  ])('refuses %s as "after"', (_label, after) => {
    const error = refusal(() => parsePage({ after }));
    expect(error.details).toEqual({ field: 'after' });
    expect(error.message).toMatch(/"after" is not a cursor this API returned/);
  });

  it('validates first even when after is valid, and after even when first is valid', () => {
    refusal(() => parsePage({ first: 0, after: encodeCursor('evt_abc') }));
    refusal(() => parsePage({ first: 10, after: 'bogus' }));
  });
});

describe('toConnection', () => {
  const rows = (count: number) => Array.from({ length: count }, (_, i) => ({ id: `evt_${String(i).padStart(3, '0')}`, n: i }));

  it('reports a next page when the extra row was fetched and drops it', () => {
    const page = { limit: 3, afterId: null };
    const connection = toConnection(rows(4), page, (row) => row.n);
    expect(connection.nodes).toEqual([0, 1, 2]);
    expect(connection.pageInfo).toEqual({ hasNextPage: true, endCursor: encodeCursor('evt_002') });
  });

  it('reports no next page when exactly limit rows came back', () => {
    const connection = toConnection(rows(3), { limit: 3, afterId: null }, (row) => row.n);
    expect(connection.nodes).toEqual([0, 1, 2]);
    expect(connection.pageInfo).toEqual({ hasNextPage: false, endCursor: encodeCursor('evt_002') });
  });

  it('handles fewer rows than the limit', () => {
    const connection = toConnection(rows(1), { limit: 3, afterId: null }, (row) => row.id);
    expect(connection.nodes).toEqual(['evt_000']);
    expect(connection.pageInfo).toEqual({ hasNextPage: false, endCursor: encodeCursor('evt_000') });
  });

  it('gives a null endCursor for an empty page', () => {
    expect(toConnection([], { limit: 20, afterId: null }, (row: { id: string }) => row)).toEqual({
      nodes: [],
      pageInfo: { hasNextPage: false, endCursor: null },
    });
  });

  it('returns an endCursor that parsePage accepts for the next page', () => {
    const connection = toConnection(rows(21), parsePage({}), (row) => row);
    expect(connection.nodes).toHaveLength(20);
    expect(parsePage({ after: connection.pageInfo.endCursor! })).toEqual({ limit: 20, afterId: 'evt_019' });
  });

  it('does not call map for the extra row', () => {
    const mapped: string[] = [];
    toConnection(rows(3), { limit: 2, afterId: null }, (row) => mapped.push(row.id));
    expect(mapped).toEqual(['evt_000', 'evt_001']);
  });
});
