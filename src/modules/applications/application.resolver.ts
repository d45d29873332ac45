import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { AdminOnly } from '../../graphql/authorization';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { pagedListComplexity } from '../../graphql/query-limits';
import { ApplicationService } from './application.service';
import { CreateApplicationInput } from './application.input';
import { ApplicationConnection, ApplicationType } from './application.type';

@Resolver(() => ApplicationType)
export class ApplicationResolver {
  @AdminOnly('Creating applications')
  @Mutation(() => ApplicationType, { description: 'Creates a tenant whose endpoints receive its events.' })
  async createApplication(@Arg('input', () => CreateApplicationInput) input: CreateApplicationInput, @Ctx() ctx: GraphQLContext) {
    return ApplicationType.from(await new ApplicationService(ctx.em, ctx.scope).create(input));
  }

  @Query(() => ApplicationConnection, { complexity: pagedListComplexity })
  async applications(@Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined, @Ctx() ctx: GraphQLContext) {
    const request = parsePage(page);
    const connection = await new ApplicationService(ctx.em, ctx.scope).list(request);
    return { ...connection, nodes: connection.nodes.map((node) => ApplicationType.from(node)) };
  }
}
