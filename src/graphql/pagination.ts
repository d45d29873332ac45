import { type ClassType, Field, InputType, Int, ObjectType } from 'type-graphql';
import { badInput } from '../lib/errors';
import { type Connection, type PageInfo as PageInfoShape, type PageRequest, decodeCursor } from '../lib/pagination';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ObjectType({ description: 'Where a page ends, and whether more follow.' })
export class PageInfo implements PageInfoShape {
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

export function parsePage(page: PageInput | undefined): PageRequest {
  const limit = page?.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw badInput(`"first" must be between 1 and ${MAX_PAGE_SIZE}; got ${limit}.`, { field: 'first' });
  }
  if (page?.after == null) return { limit, afterId: null };
  return { limit, afterId: decodeCursor(page.after, 'after') };
}
