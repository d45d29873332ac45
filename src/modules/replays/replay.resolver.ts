import { Arg, Ctx, Extensions, ID, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import { PageInput, parsePage } from '../../graphql/pagination';
import { pagedListComplexity } from '../../graphql/query-limits';
import { type ReplayChange, Topic } from '../../graphql/pubsub';
import { SHARED_FAN_OUT } from '../../graphql/shared-subscriptions';
import { ReplayService } from './replay.service';
import { ReplayDeadLettersInput } from './replay.input';
import { ReplayConnection, ReplayType } from './replay.type';

@Resolver(() => ReplayType)
export class ReplayResolver {
  @Mutation(() => ReplayType, {
    description:
      'Re-queues every dead letter the filter matches, in the background at REPLAY_RATE_PER_SECOND; follow it with replay(id) or replayUpdated(id). dryRun: only count them.',
  })
  async replayDeadLetters(
    @Arg('filter', () => ReplayDeadLettersInput) filter: ReplayDeadLettersInput,
    @Arg('dryRun', () => Boolean, { defaultValue: false }) dryRun: boolean,
    @Ctx() ctx: GraphQLContext,
  ) {
    return ReplayType.from(await new ReplayService(ctx.em, ctx.scope, ctx.config.operatorEvents).start(filter, { dryRun }));
  }

  @Mutation(() => ReplayType, { description: 'Stops a running replay after its current batch; what was re-queued stays queued.' })
  async cancelReplay(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ReplayType.from(await new ReplayService(ctx.em, ctx.scope).cancel(id));
  }

  @Query(() => ReplayType)
  async replay(@Arg('id', () => ID) id: string, @Ctx() ctx: GraphQLContext) {
    return ReplayType.from(await new ReplayService(ctx.em, ctx.scope).get(id));
  }

  @Query(() => ReplayConnection, { description: 'Replays, newest first.', complexity: pagedListComplexity })
  async replays(@Arg('page', () => PageInput, { nullable: true }) page: PageInput | undefined, @Ctx() ctx: GraphQLContext) {
    const connection = await new ReplayService(ctx.em, ctx.scope).list(parsePage(page));
    return { ...connection, nodes: connection.nodes.map((node) => ReplayType.from(node)) };
  }

  @Extensions({ [SHARED_FAN_OUT]: true })
  @Subscription(() => ReplayType, {
    topics: Topic.REPLAY,
    filter: ({ payload, args, context }: { payload: ReplayChange; args: { id: string }; context: GraphQLContext }) =>
      payload.replayId === args.id && (context.scope.applicationId === null || payload.applicationId === context.scope.applicationId),
    description: "A replay's progress after each batch, and its end, from any worker process.",
  })
  async replayUpdated(@Root() change: ReplayChange, @Arg('id', () => ID) _id: string, @Ctx() ctx: GraphQLContext) {
    // A fresh fork per message: the operation's identity map would otherwise serve stale rows.
    return ReplayType.from(await new ReplayService(ctx.orm.em.fork(), ctx.scope).get(change.replayId));
  }
}
