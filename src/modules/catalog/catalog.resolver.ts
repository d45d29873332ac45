import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { AdminOnly } from '../../graphql/authorization';
import type { GraphQLContext } from '../../graphql/context';
import { CatalogService } from './catalog.service';
import { AddEventTypeVersionInput, RegisterEventTypeInput } from './catalog.input';
import { EventTypeDefinitionType } from './catalog.type';

@Resolver(() => EventTypeDefinitionType)
export class CatalogResolver {
  @Query(() => [EventTypeDefinitionType], { description: 'The event type catalog, by name.' })
  async eventTypes(
    @Arg('includeDeprecated', () => Boolean, { nullable: true, defaultValue: true }) includeDeprecated: boolean,
    @Ctx() ctx: GraphQLContext,
  ) {
    const entries = await new CatalogService(ctx.em, ctx.config).list({ includeDeprecated });
    return entries.map((entry) => EventTypeDefinitionType.from(entry));
  }

  @Query(() => EventTypeDefinitionType)
  async eventType(@Arg('name', () => String) name: string, @Ctx() ctx: GraphQLContext) {
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config).get(name));
  }

  @AdminOnly('Changing the event type catalog')
  @Mutation(() => EventTypeDefinitionType, { description: 'Adds an event type to the catalog, with its first version.' })
  async registerEventType(@Arg('input', () => RegisterEventTypeInput) input: RegisterEventTypeInput, @Ctx() ctx: GraphQLContext) {
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config, ctx.scope).register(input));
  }

  @AdminOnly('Changing the event type catalog')
  @Mutation(() => EventTypeDefinitionType, {
    description: 'Adds a version with its own schema; endpoints pinned to an older version keep receiving only that one.',
  })
  async addEventTypeVersion(@Arg('input', () => AddEventTypeVersionInput) input: AddEventTypeVersionInput, @Ctx() ctx: GraphQLContext) {
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config, ctx.scope).addVersion(input));
  }

  @AdminOnly('Changing the event type catalog')
  @Mutation(() => EventTypeDefinitionType, {
    description: 'Marks a type deprecated: it can still be published, but new endpoint subscriptions to it are refused.',
  })
  async deprecateEventType(
    @Arg('name', () => String) name: string,
    @Arg('note', () => String, { nullable: true }) note: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config, ctx.scope).deprecate(name, note));
  }
}
