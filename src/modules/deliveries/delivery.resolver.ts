import {
  Arg,
  Args,
  ArgsType,
  Ctx,
  Extensions,
  Field,
  FieldResolver,
  ID,
  Mutation,
  Query,
  Resolver,
  Root,
  Subscription,
} from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { type DeliveryChange, type EventChange, Topic, sharedPerMessage } from '../../graphql/pubsub';
import { SHARED_FAN_OUT } from '../../graphql/shared-subscriptions';
import { notFound } from '../../lib/errors';
import { canSee } from '../api-keys/principal';
import { EndpointService } from '../endpoints/endpoint.service';
import { EndpointType } from '../endpoints/endpoint.type';
import { EventService, type StoredEvent } from '../events/event.service';
import { EventType } from '../events/event.type';
import { DeliveryStatus } from './delivery-status';
import { DeliveryService, type DeliveryWithAttempt } from './delivery.service';
import { DeliveryAttemptType, DeliveryConnection, DeliveryFilter, DeliveryType, DeliveryUpdate } from './delivery.type';

const loadEventChange = sharedPerMessage<EventChange, StoredEvent>();
const loadDeliveryChange = sharedPerMessage<DeliveryChange, DeliveryWithAttempt>();

@ArgsType()
class DeliveryUpdatedArgs {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => ID, { nullable: true })
  endpointId?: string;

  @Field(() => ID, { nullable: true })
  eventId?: string;

  @Field(() => [DeliveryStatus], { nullable: true, description: 'Only changes to one of these statuses.' })
  status?: DeliveryStatus[];
}

@ArgsType()
class EventPublishedArgs {
  @Field(() => ID, { nullable: true })
  applicationId?: string;

  @Field(() => String, { nullable: true })
  type?: string;
}

@Resolver(() => DeliveryType)
export class DeliveryResolver {
  @Query(() => DeliveryConnection, { description: 'Deliveries, newest first, filtered by status, endpoint, event, type and time.' })
  async deliveries(
    @Arg('filter', () => DeliveryFilter, { nullable: true }) filter: DeliveryFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new DeliveryService(ctx.em, ctx.scope).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => DeliveryType.from(node)) };
  }

  @Query(() => DeliveryConnection, { description: 'Dead letters: deliveries whose every attempt failed.' })
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

  @FieldResolver(() => [DeliveryAttemptType], { description: 'Every attempt, first to last.' })
  async attempts(@Root() delivery: DeliveryType, @Ctx() ctx: GraphQLContext) {
    const attempts = await new DeliveryService(ctx.em, ctx.scope).attempts(delivery.id);
    return attempts.map((attempt) => DeliveryAttemptType.from(attempt));
  }

  @FieldResolver(() => EventType)
  async event(@Root() delivery: DeliveryType, @Ctx() ctx: GraphQLContext) {
    return EventType.from(await new EventService(ctx.em, ctx.config, ctx.scope).get(delivery.eventId));
  }

  @FieldResolver(() => EndpointType)
  async endpoint(@Root() delivery: DeliveryType, @Ctx() ctx: GraphQLContext) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.scope).get(delivery.endpointId));
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
