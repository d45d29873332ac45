import { Arg, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { AdminOnly } from '../../graphql/authorization';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { pagedListComplexity } from '../../graphql/query-limits';
import { ApiKeyService } from './api-key.service';
import { CreateApiKeyInput } from './api-key.input';
import { ApiKeyConnection, ApiKeyType, ApiKeyWithSecret } from './api-key.type';

@Resolver(() => ApiKeyType)
export class ApiKeyResolver {
  @AdminOnly('Creating API keys')
  @Mutation(() => ApiKeyWithSecret, { description: 'Creates an API key (admin keys only). The key is returned this once.' })
  async createApiKey(@Arg('input', () => CreateApiKeyInput) input: CreateApiKeyInput, @Ctx() ctx: GraphQLContext) {
    const { apiKey, key } = await new ApiKeyService(ctx.em, undefined, undefined, ctx.scope).create(input);
    return { apiKey: ApiKeyType.from(apiKey), key };
  }

  @AdminOnly('Revoking API keys')
  @Mutation(() => ApiKeyType, { description: 'Revokes an API key by id or prefix (admin keys only); it stops working at once.' })
  async revokeApiKey(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ApiKeyType.from(await new ApiKeyService(ctx.em, ctx.verifiedKeys, undefined, ctx.scope).revoke(id));
  }

  @AdminOnly('Listing API keys')
  @Query(() => ApiKeyConnection, {
    description: 'Every API key, newest first, by prefix only (admin keys only).',
    complexity: pagedListComplexity,
  })
  async apiKeys(@Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined, @Ctx() ctx: GraphQLContext) {
    const connection = await new ApiKeyService(ctx.em).list(parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => ApiKeyType.from(node)) };
  }

  @Query(() => ApiKeyType, { description: 'The API key this request was made with.' })
  async currentApiKey(@Ctx() ctx: GraphQLContext) {
    const apiKey = await new ApiKeyService(ctx.em).find(ctx.principal.keyId);
    return ApiKeyType.from(apiKey);
  }
}
