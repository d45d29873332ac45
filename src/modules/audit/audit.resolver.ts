import { Arg, Ctx, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { pagedListComplexity } from '../../graphql/query-limits';
import { forbidden } from '../../lib/errors';
import { AuditLogFilter } from './audit.input';
import { AuditService } from './audit.service';
import { AuditEntryConnection, AuditEntryType } from './audit.type';

@Resolver(() => AuditEntryType)
export class AuditResolver {
  @Query(() => AuditEntryConnection, {
    description:
      "Configuration changes, newest first: who made each, when, in which request, and the target before and after. An application key sees its application's entries only.",
    complexity: pagedListComplexity,
  })
  async auditLog(
    @Arg('filter', () => AuditLogFilter, { nullable: true }) filter: AuditLogFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    // The portal policy already refuses it (not on its allow-list); this holds even if it were listed by mistake.
    if (ctx.principal.portal) throw forbidden('The audit log is not available to customer portal sessions; use an API key.');
    const connection = await new AuditService(ctx.em, ctx.scope).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => AuditEntryType.from(node)) };
  }
}
