import { Arg, Args, Ctx, Extensions, FieldResolver, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { listComplexity, pagedListComplexity } from '../../graphql/query-limits';
import { type DeliveryChange, Topic, sharedPerMessage } from '../../graphql/pubsub';
import { SHARED_FAN_OUT } from '../../graphql/shared-subscriptions';
import { notFound } from '../../lib/errors';
import { canSee } from '../api-keys/principal';
import { EndpointType } from '../endpoints/endpoint.type';
import { EventType } from '../events/event.type';
import { DeliveryStatus } from '../../queue/delivery-status';
import { DeliveryService, type DeliveryWithAttempt } from './delivery.service';
import { DeliveryUpdatedArgs } from './delivery.args';
import { DeliveryFilter } from './delivery.input';
import { DeliveryAttemptType, DeliveryConnection, DeliveryType, DeliveryUpdate } from './delivery.type';

const loadDeliveryChange = sharedPerMessage<DeliveryChange, DeliveryWithAttempt>();

/** How many items a delivery's `attempts` list is costed as by the query cost limit: it takes no page argument. */
const ATTEMPTS_COSTED_PER_DELIVERY = 10;

@Resolver(() => DeliveryType)
export class DeliveryResolver {
  @Query(() => DeliveryConnection, {
    description: 'Deliveries, newest first, filtered by status, endpoint, event, type and time.',
    complexity: pagedListComplexity,
  })
  async deliveries(
    @Arg('filter', () => DeliveryFilter, { nullable: true }) filter: DeliveryFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new DeliveryService(ctx.em, ctx.scope).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => DeliveryType.from(node)) };
  }

  @Query(() => DeliveryConnection, { description: 'Dead letters: deliveries whose every attempt failed.', complexity: pagedListComplexity })
  async deadLetters(
    @Arg('filter', () => DeliveryFilter, { nullable: true }) filter: DeliveryFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new DeliveryService(ctx.em, ctx.scope).list({ ...filter, status: [DeliveryStatus.DEAD] }, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => DeliveryType.from(node)) };
  }

  @Query(() => DeliveryType)
  async delivery(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return DeliveryType.from(await new DeliveryService(ctx.em, ctx.scope).get(id));
  }

  @Mutation(() => DeliveryType, { description: 'Queues the next attempt of a delivery now, dead or not.' })
  async retryDelivery(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return DeliveryType.from(await new DeliveryService(ctx.em, ctx.scope).retry(id));
  }

  @FieldResolver(() => [DeliveryAttemptType], {
    description: 'Every attempt, first to last.',
    complexity: listComplexity(ATTEMPTS_COSTED_PER_DELIVERY),
  })
  async attempts(@Root() delivery: DeliveryType, @Ctx() ctx: GraphQLContext) {
    const attempts = await ctx.loaders.attemptsOf(delivery.id);
    return attempts.map((attempt) => DeliveryAttemptType.from(attempt));
  }

  @FieldResolver(() => EventType)
  async event(@Root() delivery: DeliveryType, @Ctx() ctx: GraphQLContext) {
    return EventType.fromEntity(await ctx.loaders.event(delivery.eventId));
  }

  @FieldResolver(() => EndpointType)
  async endpoint(@Root() delivery: DeliveryType, @Ctx() ctx: GraphQLContext) {
    return EndpointType.from(await ctx.loaders.endpoint(delivery.endpointId));
  }

  @Extensions({ [SHARED_FAN_OUT]: true })
  @Subscription(() => DeliveryUpdate, {
    topics: Topic.DELIVERY,
    filter: ({ payload, args, context }: { payload: DeliveryChange; args: DeliveryUpdatedArgs; context: GraphQLContext }) =>
      canSee(context.scope, payload.applicationId) &&
      (!args.applicationId || payload.applicationId === args.applicationId) &&
      (!args.endpointId || payload.endpointId === args.endpointId) &&
      (!args.eventId || payload.eventId === args.eventId) &&
      (!args.status || args.status.length === 0 || args.status.includes(payload.status as DeliveryStatus)),
    description: 'Every attempt outcome and status change, from any worker process, filtered by the arguments.',
  })
  async deliveryUpdated(
    @Root() change: DeliveryChange,
    @Args(() => DeliveryUpdatedArgs) _args: DeliveryUpdatedArgs,
    @Ctx() ctx: GraphQLContext,
  ) {
    // Loaded once per message for every subscriber (the filter has already checked what each may see).
    const { delivery, attempt } = await loadDeliveryChange(change, () => ctx.deliveryReader.get(change));
    if (!canSee(ctx.scope, delivery.application.id)) throw notFound('delivery', change.deliveryId);
    const update = new DeliveryUpdate();
    update.delivery = DeliveryType.from(delivery);
    // The row may have moved on since the notification; report the state this change produced.
    update.delivery.status = change.status as DeliveryStatus;
    if (change.attempt) update.delivery.attemptCount = change.attempt;
    update.attempt = attempt ? DeliveryAttemptType.from(attempt) : null;
    return update;
  }
}
