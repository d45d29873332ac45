import { Arg, Args, Ctx, Extensions, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { DEFAULT_PAGE_SIZE, PageInput, parsePage } from '../../graphql/pagination';
import { type EventChange, Topic, sharedPerMessage } from '../../graphql/pubsub';
import { listComplexity, pagedListComplexity } from '../../graphql/query-limits';
import { SHARED_FAN_OUT } from '../../graphql/shared-subscriptions';
import { notFound } from '../../lib/errors';
import { canSee } from '../api-keys/principal';
import { DeliveryService } from '../deliveries/delivery.service';
import { DeliveryType } from '../deliveries/delivery.type';
import { EventPublishedArgs } from './event.args';
import { type PublishResult, EventService, type StoredEvent } from './event.service';
import { EventFilter, PublishEventInput } from './event.input';
import { EventConnection, EventListenersType, EventType } from './event.type';

const loadEventChange = sharedPerMessage<EventChange, StoredEvent>();

@Resolver(() => EventType)
export class EventResolver {
  @Mutation(() => EventType, {
    description:
      'Publishes an event: one delivery per enabled endpoint of the application whose filters match its type, all committed together.',
  })
  async publishEvent(@Arg('input', () => PublishEventInput) input: PublishEventInput, @Ctx() ctx: GraphQLContext) {
    const published = await new EventService(ctx.em, ctx.config, ctx.scope, ctx.eventWriter).publish(input);
    return publishedEvent(published);
  }

  @Mutation(() => [EventType], {
    description:
      'Publishes up to 100 events in one transaction: all of them with their deliveries, or none (any invalid input fails the whole batch, naming its index).',
  })
  async publishEvents(@Arg('inputs', () => [PublishEventInput]) inputs: PublishEventInput[], @Ctx() ctx: GraphQLContext) {
    const results = await new EventService(ctx.em, ctx.config, ctx.scope).publishMany(inputs);
    return results.map(publishedEvent);
  }

  @Mutation(() => DeliveryType, { description: 'Sends a `webhook.test` event to one endpoint, whatever its filters.' })
  async sendTestEvent(@Arg('endpointId', () => ID) endpointId: string, @Ctx() ctx: GraphQLContext) {
    const { deliveryId } = await new EventService(ctx.em, ctx.config, ctx.scope).sendTest(endpointId);
    return DeliveryType.from(await new DeliveryService(ctx.em, ctx.scope).get(deliveryId));
  }

  @Query(() => EventConnection, { complexity: pagedListComplexity })
  async events(
    @Arg('filter', () => EventFilter, { nullable: true }) filter: EventFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new EventService(ctx.em, ctx.config, ctx.scope).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => EventType.from(node)) };
  }

  @Query(() => EventListenersType, {
    description:
      'Who would receive an event of this type and version if it were published now: the enabled endpoints of the application whose filters and version pins take it (the same matching as the fan-out). Ask before building an expensive payload.',
  })
  async eventListeners(
    @Arg('type', () => String) type: string,
    @Arg('version', () => String, { nullable: true }) version: string | undefined,
    @Arg('applicationId', () => ID, { nullable: true }) applicationId: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const endpointIds = await new EventService(ctx.em, ctx.config, ctx.scope).listeners(type, version ?? null, applicationId ?? null);
    return { count: endpointIds.length, endpointIds };
  }

  @Query(() => EventType)
  async event(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return EventType.from(await new EventService(ctx.em, ctx.config, ctx.scope).get(id));
  }

  @FieldResolver(() => [DeliveryType], {
    description: 'One delivery per endpoint the event was fanned out to.',
    complexity: listComplexity(DEFAULT_PAGE_SIZE),
  })
  async deliveries(@Root() event: EventType, @Ctx() ctx: GraphQLContext) {
    const deliveries = await ctx.loaders.deliveriesOf(event.id);
    return deliveries.map((delivery) => DeliveryType.from(delivery));
  }

  @Extensions({ [SHARED_FAN_OUT]: true })
  @Subscription(() => EventType, {
    topics: Topic.EVENT,
    filter: ({ payload, args, context }: { payload: EventChange; args: EventPublishedArgs; context: GraphQLContext }) =>
      canSee(context.scope, payload.applicationId) &&
      (!args.applicationId || payload.applicationId === args.applicationId) &&
      (!args.type || payload.type === args.type),
    description: 'Every event as it is published.',
  })
  async eventPublished(@Root() change: EventChange, @Args(() => EventPublishedArgs) _args: EventPublishedArgs, @Ctx() ctx: GraphQLContext) {
    const event = await loadEventChange(change, () => ctx.eventReader.get(change.eventId));
    if (!canSee(ctx.scope, event.applicationId)) throw notFound('event', change.eventId);
    return EventType.from(event);
  }
}

/** A publish's event, with how many endpoints it went to (unknown for a repeat of an idempotency key). */
function publishedEvent({ event, deduplicated, deliveryIds }: PublishResult): EventType {
  return EventType.from(event, deduplicated ? null : deliveryIds.length);
}
