import { Args, Ctx, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import type { DeliveryChange } from '../../graphql/pubsub';
import { systemClock } from '../../lib/clock';
import { metricsTriggers } from './metrics-triggers';
import { MetricsService } from './metrics.service';
import { MetricsArgs, MetricsType } from './metrics.type';

@Resolver(() => MetricsType)
export class MetricsResolver {
  @Query(() => MetricsType, {
    description: 'Delivery metrics over a window: outcomes, latency, throughput, queue depth and endpoint health.',
  })
  async metrics(@Args(() => MetricsArgs) args: MetricsArgs, @Ctx() ctx: GraphQLContext) {
    return new MetricsService(ctx.em, systemClock).metrics(args.window, args);
  }

  @Subscription(() => MetricsType, {
    subscribe: ({ args, context }) => {
      const { applicationId, endpointId } = args as MetricsArgs;
      const ctx = context as GraphQLContext;
      return metricsTriggers({
        pubSub: ctx.pubSub,
        matches: (change: DeliveryChange) =>
          (!applicationId || change.applicationId === applicationId) && (!endpointId || change.endpointId === endpointId),
        intervalMs: ctx.config.metrics.pushIntervalMs,
        minGapMs: ctx.config.metrics.minPushGapMs,
      });
    },
    description: 'The same metrics, pushed at once, every few seconds (METRICS_PUSH_INTERVAL_MS) and soon after deliveries change.',
  })
  async metricsUpdated(@Root() _pushedAt: number, @Args(() => MetricsArgs) args: MetricsArgs, @Ctx() ctx: GraphQLContext) {
    // A fresh fork per push: the operation's identity map would otherwise serve stale rows.
    return new MetricsService(ctx.orm.em.fork(), systemClock).metrics(args.window, args);
  }
}
