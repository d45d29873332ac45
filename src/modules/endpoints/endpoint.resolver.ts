import { Arg, Args, Ctx, Extensions, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { Batcher } from '../../lib/batcher';
import { type EndpointChange, Topic } from '../../graphql/pubsub';
import { SHARED_FAN_OUT } from '../../graphql/shared-subscriptions';
import { canSee } from '../api-keys/principal';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { pagedListComplexity } from '../../graphql/query-limits';
import { DEFAULT_ROTATION_GRACE_SECONDS, MAX_ROTATION_GRACE_SECONDS } from './endpoint-secrets';
import { EndpointService } from './endpoint.service';
import { EndpointStatusChangedArgs } from './endpoint.args';
import { EndpointFilter, RegisterEndpointInput, UpdateEndpointInput } from './endpoint.input';
import { EndpointConnection, EndpointStatus, EndpointStatusChange, EndpointType, EndpointWithSecret } from './endpoint.type';

@Resolver(() => EndpointType)
export class EndpointResolver {
  @Mutation(() => EndpointWithSecret, { description: 'Registers a receiver URL. The signing secret is returned this once.' })
  async registerEndpoint(@Arg('input', () => RegisterEndpointInput) input: RegisterEndpointInput, @Ctx() ctx: GraphQLContext) {
    const { endpoint, secret } = await new EndpointService(ctx.em, ctx.scope, ctx.config).register(input, ctx.secrets);
    return { endpoint: EndpointType.from(endpoint), secret };
  }

  @Mutation(() => EndpointType)
  async updateEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateEndpointInput) input: UpdateEndpointInput,
    @Ctx() ctx: GraphQLContext,
  ) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.scope, ctx.config).update(id, input));
  }

  @Mutation(() => EndpointType, { description: 'Stops deliveries to the endpoint; queued ones are dead-lettered.' })
  async disableEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true }) reason: string | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.scope, ctx.config).disable(id, reason));
  }

  @Mutation(() => EndpointType, {
    description:
      'Enables the endpoint again and resets its health. redeliverMissed: also re-queue its dead letters since it started failing and the matching events published while it was disabled.',
  })
  async enableEndpoint(
    @Arg('id', () => ID) id: string,
    @Arg('redeliverMissed', () => Boolean, { nullable: true }) redeliverMissed: boolean | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const { endpoint } = await new EndpointService(ctx.em, ctx.scope, ctx.config).enable(id, { redeliverMissed });
    return EndpointType.from(endpoint);
  }

  @Mutation(() => EndpointType, {
    description:
      'Pauses deliveries to the endpoint without losing any: events still fan out to it and its deliveries wait, with no attempt made or counted and no age or attempt limit running out, until resumeEndpoint. Attempts already in flight finish.',
  })
  async pauseEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.scope, ctx.config).pause(id));
  }

  @Mutation(() => EndpointType, {
    description:
      'Resumes a paused endpoint: what waited is delivered, oldest first (FIFO groups in order), within its concurrency and rate limits.',
  })
  async resumeEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    const { endpoint } = await new EndpointService(ctx.em, ctx.scope, ctx.config).resume(id);
    return EndpointType.from(endpoint);
  }

  @Mutation(() => Int, {
    description:
      "Cancels the endpoint's unfinished deliveries (PENDING or FAILED, not in flight) created before `before` (default: now): they keep their record with the status CANCELLED and are never attempted; a FIFO group goes on with its next delivery. Returns how many were cancelled.",
  })
  async cancelPendingDeliveries(
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('before', () => Date, { nullable: true }) before: Date | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    return new EndpointService(ctx.em, ctx.scope, ctx.config).cancelPending(endpointId, before);
  }

  @FieldResolver(() => Int, {
    description: 'Deliveries waiting for this endpoint: PENDING, or FAILED with another attempt scheduled (paused or not).',
  })
  async pendingDeliveries(@Root() endpoint: EndpointType, @Ctx() ctx: GraphQLContext) {
    return pendingCounter(ctx).submit(endpoint.id);
  }

  @Extensions({ [SHARED_FAN_OUT]: true })
  @Subscription(() => EndpointStatusChange, {
    topics: Topic.ENDPOINT,
    filter: ({ payload, args, context }: { payload: EndpointChange; args: EndpointStatusChangedArgs; context: GraphQLContext }) =>
      canSee(context.scope, payload.applicationId) &&
      (!args.applicationId || payload.applicationId === args.applicationId) &&
      (!args.endpointId || payload.endpointId === args.endpointId),
    description: 'Endpoints disabled (by a user, 410 Gone or the health rules) and enabled again, from any process.',
  })
  async endpointStatusChanged(
    @Root() change: EndpointChange,
    @Args(() => EndpointStatusChangedArgs) _args: EndpointStatusChangedArgs,
    @Ctx() ctx: GraphQLContext,
  ) {
    const endpoint = await new EndpointService(ctx.orm.em.fork(), ctx.scope, ctx.config).get(change.endpointId);
    return Object.assign(new EndpointStatusChange(), {
      endpoint: EndpointType.from(endpoint),
      change: change.change === 'DISABLED' ? EndpointStatus.DISABLED : EndpointStatus.ENABLED,
      reason: change.reason,
    });
  }

  @Mutation(() => ID, { description: 'Deletes the endpoint with its deliveries and attempts. Returns the id.' })
  async deleteEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    await new EndpointService(ctx.em, ctx.scope, ctx.config).delete(id);
    return id;
  }

  @Mutation(() => EndpointWithSecret, {
    description:
      'Replaces the signing secret; the new one is returned this once. During the grace period every delivery is also signed with the old secret.',
  })
  async rotateEndpointSecret(
    @Arg('id', () => ID) id: string,
    @Arg('gracePeriodSeconds', () => Int, {
      nullable: true,
      description: `How long the old secret stays valid: 0 to ${MAX_ROTATION_GRACE_SECONDS} s (7 days); default ${DEFAULT_ROTATION_GRACE_SECONDS} (24 h).`,
    })
    gracePeriodSeconds: number | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const { endpoint, secret } = await new EndpointService(ctx.em, ctx.scope, ctx.config).rotateSecret(
      id,
      ctx.secrets,
      gracePeriodSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS,
    );
    return { endpoint: EndpointType.from(endpoint), secret };
  }

  @Mutation(() => EndpointType, {
    description: 'Turns ed25519 (`v1a`) signatures on, with a new key pair whose public key is published on the endpoint, or off.',
  })
  async setEndpointAsymmetricSignatures(
    @Arg('id', () => ID) id: string,
    @Arg('enabled', () => Boolean) enabled: boolean,
    @Ctx() ctx: GraphQLContext,
  ) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.scope, ctx.config).setAsymmetricSignatures(id, enabled, ctx.secrets));
  }

  @Query(() => EndpointConnection, { complexity: pagedListComplexity })
  async endpoints(
    @Arg('filter', () => EndpointFilter, { nullable: true }) filter: EndpointFilter | undefined,
    @Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined,
    @Ctx() ctx: GraphQLContext,
  ) {
    const connection = await new EndpointService(ctx.em, ctx.scope, ctx.config).list(filter ?? {}, parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => EndpointType.from(node)) };
  }

  @Query(() => EndpointType)
  async endpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return EndpointType.from(await new EndpointService(ctx.em, ctx.scope, ctx.config).get(id));
  }
}

/** A request's counts of waiting deliveries: the endpoints of one list are counted in one query. */
const pendingCounters = new WeakMap<GraphQLContext, Batcher<string, number>>();

function pendingCounter(ctx: GraphQLContext): Batcher<string, number> {
  let counter = pendingCounters.get(ctx);
  if (!counter) {
    counter = new Batcher(async (ids) => {
      const counts = await new EndpointService(ctx.em, ctx.scope, ctx.config).countPending(ids);
      return ids.map((id) => counts.get(id) ?? 0);
    });
    pendingCounters.set(ctx, counter);
  }
  return counter;
}
