import { Arg, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { requireAdmin } from '../api-keys/principal';
import { CatalogService } from './catalog.service';
import { AddEventTypeVersionInput, EventTypeDefinitionType, RegisterEventTypeInput } from './catalog.type';

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

  @Mutation(() => EventTypeDefinitionType, { description: 'Adds an event type to the catalog, with its first version.' })
  async registerEventType(@Arg('input', () => RegisterEventTypeInput) input: RegisterEventTypeInput, @Ctx() ctx: GraphQLContext) {
    requireAdmin(ctx.principal, 'Changing the event type catalog');
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config).register(input));
  }

  @Mutation(() => EventTypeDefinitionType, {
    description: 'Adds a version with its own schema; endpoints pinned to an older version keep receiving only that one.',
  })
  async addEventTypeVersion(@Arg('input', () => AddEventTypeVersionInput) input: AddEventTypeVersionInput, @Ctx() ctx: GraphQLContext) {
    requireAdmin(ctx.principal, 'Changing the event type catalog');
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config).addVersion(input));
  }

  @Mutation(() => EventTypeDefinitionType, {
    description: 'Marks a type deprecated: it can still be published, but new endpoint subscriptions to it are refused.',
  })
  async deprecateEventType(
    @Arg('name', () => String) name: string,
    @Arg('note', () => String, { nullable: true }) note: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    requireAdmin(ctx.principal, 'Changing the event type catalog');
    return EventTypeDefinitionType.from(await new CatalogService(ctx.em, ctx.config).deprecate(name, note));
  }
}
