import { badInput } from './errors';

/** A validated page request: `limit` rows after the row whose id is `afterId` (ids sort by creation). */
export interface PageRequest {
  limit: number;
  afterId: string | null;
}

export interface PageInfo {
  /** The cursor of the page's last row: pass it as `after` for the next page. */
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface Connection<T> {
  nodes: T[];
  pageInfo: PageInfo;
}

const CURSOR_PREFIX = 'c1:';

export function encodeCursor(id: string): string {
  return Buffer.from(CURSOR_PREFIX + id).toString('base64url');
}

/** The row id a cursor of encodeCursor names; refuses anything else as bad input to `field`. */
export function decodeCursor(cursor: string, field: string): string {
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!decoded.startsWith(CURSOR_PREFIX) || !/^[a-z]+_[0-9a-z]+$/.test(decoded.slice(CURSOR_PREFIX.length))) {
    throw badInput(`"${field}" is not a cursor this API returned: pass a pageInfo.endCursor unchanged.`, { field });
  }
  return decoded.slice(CURSOR_PREFIX.length);
}

/** Builds a page from rows fetched with `limit + 1` (the extra row only tells whether more follow). */
export function toConnection<R extends { id: string }, T>(rows: R[], page: PageRequest, map: (row: R) => T): Connection<T> {
  const hasNextPage = rows.length > page.limit;
  const pageRows = hasNextPage ? rows.slice(0, page.limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { nodes: pageRows.map(map), pageInfo: { hasNextPage, endCursor: last ? encodeCursor(last.id) : null } };
}
