import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { requireAdmin } from '../api-keys/principal';
import { ApplicationService } from './application.service';
import { ApplicationConnection, ApplicationType, CreateApplicationInput } from './application.type';

@Resolver(() => ApplicationType)
export class ApplicationResolver {
  @Mutation(() => ApplicationType, { description: 'Creates a tenant whose endpoints receive its events.' })
  async createApplication(@Arg('input', () => CreateApplicationInput) input: CreateApplicationInput, @Ctx() ctx: GraphQLContext) {
    requireAdmin(ctx.principal, 'Creating applications');
    return ApplicationType.from(await new ApplicationService(ctx.em, ctx.scope).create(input));
  }

  @Query(() => ApplicationConnection)
  async applications(@Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined, @Ctx() ctx: GraphQLContext) {
    const request = parsePage(page);
    const connection = await new ApplicationService(ctx.em, ctx.scope).list(request);
    return { ...connection, nodes: connection.nodes.map((node) => ApplicationType.from(node)) };
  }
}
