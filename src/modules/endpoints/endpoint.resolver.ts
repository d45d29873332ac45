import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { EndpointService } from './endpoint.service';
import {
  EndpointConnection,
  EndpointFilter,
  EndpointType,
  EndpointWithSecret,
  RegisterEndpointInput,
  UpdateEndpointInput,
} from './endpoint.type';

@Resolver(() => EndpointType)
export class EndpointResolver {
  @Mutation(() => EndpointWithSecret, { description: 'Registers a receiver URL. The signing secret is returned this once.' })
  async registerEndpoint(@Arg('input', () => RegisterEndpointInput) input: RegisterEndpointInput, @Ctx() ctx: GraphQLContext) {
    const { endpoint, secret } = await new EndpointService(ctx.em, ctx.config).register(input);
    return { endpoint: EndpointType.from(endpoint), secret };
  }

  @Mutation(() => EndpointType)
  async updateEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateEndpointInput) input: UpdateEndpointInput,
    @Ctx() ctx: GraphQLContext,
  ) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.config).update(id, input));
  }

  @Mutation(() => EndpointType, { description: 'Stops deliveries to the endpoint; queued ones are dead-lettered.' })
  async disableEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.config).disable(id, reason));
  }

  @Mutation(() => EndpointType)
  async enableEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.config).enable(id));
  }

  @Mutation(() => ID, { description: 'Deletes the endpoint with its deliveries and attempts. Returns the id.' })
  async deleteEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    await new EndpointService(ctx.em, ctx.config).delete(id);
    return id;
  }

  @Mutation(() => EndpointWithSecret, { description: 'Replaces the signing secret; the new one is returned this once.' })
  async rotateEndpointSecret(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    const { endpoint, secret } = await new EndpointService(ctx.em, ctx.config).rotateSecret(id);
    return { endpoint: EndpointType.from(endpoint), secret };
  }

  @Query(() => EndpointConnection)
  async endpoints(
    @Arg('filter', () => EndpointFilter, { nullable: true }) filter: EndpointFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new EndpointService(ctx.em, ctx.config).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => EndpointType.from(node)) };
  }

  @Query(() => EndpointType)
  async endpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.config).get(id));
  }
}
