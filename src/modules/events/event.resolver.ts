import { Arg, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { DeliveryService } from '../deliveries/delivery.service';
import { DeliveryType } from '../deliveries/delivery.type';
import { EventService } from './event.service';
import { EventConnection, EventFilter, EventType, PublishEventInput } from './event.type';

@Resolver(() => EventType)
export class EventResolver {
  @Mutation(() => EventType, {
    description:
      'Publishes an event: one delivery per enabled endpoint of the application whose filters match its type, all committed together.',
  })
  async publishEvent(@Arg('input', () => PublishEventInput) input: PublishEventInput, @Ctx() ctx: GraphQLContext) {
    const { event } = await new EventService(ctx.em, ctx.config, ctx.scope, ctx.eventWriter).publish(input);
    return EventType.from(event);
  }

  @Mutation(() => [EventType], {
    description:
      'Publishes up to 100 events in one transaction: all of them with their deliveries, or none (any invalid input fails the whole batch, naming its index).',
  })
  async publishEvents(@Arg('inputs', () => [PublishEventInput]) inputs: PublishEventInput[], @Ctx() ctx: GraphQLContext) {
    const results = await new EventService(ctx.em, ctx.config, ctx.scope).publishMany(inputs);
    return results.map(({ event }) => EventType.from(event));
  }

  @Mutation(() => DeliveryType, { description: 'Sends a `webhook.test` event to one endpoint, whatever its filters.' })
  async sendTestEvent(@Arg('endpointId', () => ID) endpointId: string, @Ctx() ctx: GraphQLContext) {
    const { deliveryId } = await new EventService(ctx.em, ctx.config, ctx.scope).sendTest(endpointId);
    return DeliveryType.from(await new DeliveryService(ctx.em, ctx.scope).get(deliveryId));
  }

  @Query(() => EventConnection)
  async events(
    @Arg('filter', () => EventFilter, { nullable: true }) filter: EventFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new EventService(ctx.em, ctx.config, ctx.scope).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => EventType.from(node)) };
  }

  @Query(() => EventType)
  async event(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return EventType.from(await new EventService(ctx.em, ctx.config, ctx.scope).get(id));
  }

  @FieldResolver(() => [DeliveryType], { description: 'One delivery per endpoint the event was fanned out to.' })
  async deliveries(@Root() event: EventType, @Ctx() ctx: GraphQLContext) {
    const deliveries = await new DeliveryService(ctx.em, ctx.scope).forEvent(event.id);
    return deliveries.map((delivery) => DeliveryType.from(delivery));
  }
}
