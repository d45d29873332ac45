import { type ClassType, Field, InputType, Int, ObjectType } from 'type-graphql';
import { badInput } from '../lib/errors';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ObjectType({ description: 'Where a page ends, and whether more follow.' })
export class PageInfo {
  @Field(() => String, { nullable: true, description: 'Pass as `after` to get the next page.' })
  endCursor!: string | null;

  @Field()
  hasNextPage!: boolean;
}

@InputType({ description: 'Cursor pagination: lists are newest first.' })
export class PageInput {
  @Field(() => Int, { nullable: true, description: `Page size, 1 to ${MAX_PAGE_SIZE} (default ${DEFAULT_PAGE_SIZE}).` })
  first?: number;

  @Field(() => String, { nullable: true, description: 'The `endCursor` of the previous page.' })
  after?: string;
}

export interface Connection<T> {
  nodes: T[];
  pageInfo: PageInfo;
}

export function ConnectionType<T extends object>(node: ClassType<T>, name: string) {
  @ObjectType(`${name}Connection`, { description: `A page of ${name} records.` })
  class ConnectionClass implements Connection<T> {
    @Field(() => [node])
    nodes!: T[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return ConnectionClass;
}

/** A validated page request: `limit` rows after the row whose id is `afterId` (ids sort by creation). */
export interface PageRequest {
  limit: number;
  afterId: string | null;
}

const CURSOR_PREFIX = 'c1:';

export function encodeCursor(id: string): string {
  return Buffer.from(CURSOR_PREFIX + id).toString('base64url');
}

export function parsePage(page: PageInput | undefined): PageRequest {
  const limit = page?.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw badInput(`"first" must be between 1 and ${MAX_PAGE_SIZE}; got ${limit}.`, { field: 'first' });
  }
  if (page?.after == null) return { limit, afterId: null };
  const decoded = Buffer.from(page.after, 'base64url').toString('utf8');
  if (!decoded.startsWith(CURSOR_PREFIX) || !/^[a-z]+_[0-9a-z]+$/.test(decoded.slice(CURSOR_PREFIX.length))) {
    throw badInput('"after" is not a cursor this API returned: pass a pageInfo.endCursor unchanged.', { field: 'after' });
  }
  return { limit, afterId: decoded.slice(CURSOR_PREFIX.length) };
}

/** Builds a page from rows fetched with `limit + 1` (the extra row only tells whether more follow). */
export function toConnection<R extends { id: string }, T>(rows: R[], page: PageRequest, map: (row: R) => T): Connection<T> {
  const hasNextPage = rows.length > page.limit;
  const pageRows = hasNextPage ? rows.slice(0, page.limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { nodes: pageRows.map(map), pageInfo: { hasNextPage, endCursor: last ? encodeCursor(last.id) : null } };
}
