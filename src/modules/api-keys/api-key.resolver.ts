import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { ApiKeyService } from './api-key.service';
import { ApiKeyConnection, ApiKeyType, ApiKeyWithSecret, CreateApiKeyInput } from './api-key.type';
import { requireAdmin } from './principal';

@Resolver(() => ApiKeyType)
export class ApiKeyResolver {
  @Mutation(() => ApiKeyWithSecret, { description: 'Creates an API key (admin keys only). The key is returned this once.' })
  async createApiKey(@Arg('input', () => CreateApiKeyInput) input: CreateApiKeyInput, @Ctx() ctx: GraphQLContext) {
    requireAdmin(ctx.principal, 'Creating API keys');
    const { apiKey, key } = await new ApiKeyService(ctx.em).create(input);
    return { apiKey: ApiKeyType.from(apiKey), key };
  }

  @Mutation(() => ApiKeyType, { description: 'Revokes an API key by id or prefix (admin keys only); it stops working at once.' })
  async revokeApiKey(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    requireAdmin(ctx.principal, 'Revoking API keys');
    return ApiKeyType.from(await new ApiKeyService(ctx.em, ctx.verifiedKeys).revoke(id));
  }

  @Query(() => ApiKeyConnection, { description: 'Every API key, newest first, by prefix only (admin keys only).' })
  async apiKeys(@Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined, @Ctx() ctx: GraphQLContext) {
    requireAdmin(ctx.principal, 'Listing API keys');
    const connection = await new ApiKeyService(ctx.em).list(parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => ApiKeyType.from(node)) };
  }

  @Query(() => ApiKeyType, { description: 'The API key this request was made with.' })
  async currentApiKey(@Ctx() ctx: GraphQLContext) {
    const apiKey = await new ApiKeyService(ctx.em).find(ctx.principal.keyId);
    return ApiKeyType.from(apiKey);
  }
}
