import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { SourceService } from './source.service';
import { CreateSourceInput } from './source.input';
import { SourceType, SourceWithSecretType } from './source.type';

@Resolver(() => SourceType)
export class SourceResolver {
  @Mutation(() => SourceWithSecretType, { description: 'Creates an inbound source. Its secret is returned this once.' })
  async createSource(@Arg('input', () => CreateSourceInput) input: CreateSourceInput, @Ctx() ctx: GraphQLContext) {
    const { source, secret } = await new SourceService(ctx.em, ctx.config, ctx.secrets, ctx.scope).create(input);
    return { source: SourceType.from(source), secret };
  }

  @Mutation(() => ID, { description: 'Deletes the source and its stored requests (the events stay). Returns the id.' })
  async deleteSource(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    await new SourceService(ctx.em, ctx.config, ctx.secrets, ctx.scope).delete(id);
    return id;
  }

  @Query(() => [SourceType])
  async sources(@Arg('applicationId', () => ID, { nullable: true }) applicationId: string | undefined, @Ctx() ctx: GraphQLContext) {
    return (await new SourceService(ctx.em, ctx.config, ctx.secrets, ctx.scope).list(applicationId)).map((source) =>
      SourceType.from(source),
    );
  }

  @Query(() => SourceType)
  async source(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return SourceType.from(await new SourceService(ctx.em, ctx.config, ctx.secrets, ctx.scope).get(id));
  }
}
