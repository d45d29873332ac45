import { Args, Ctx, Query, Resolver, Root, Subscription } from 'type-graphql';
import type { GraphQLContext } from '../../graphql/context';
import type { DeliveryChange } from '../../graphql/pubsub';
import { systemClock } from '../../lib/clock';
import { notFound } from '../../lib/errors';
import { metricsTriggers } from './metrics-triggers';
import { MetricsService } from './metrics.service';
import { MetricsArgs } from './metrics.args';
import { MetricsType } from './metrics.type';

@Resolver(() => MetricsType)
export class MetricsResolver {
  @Query(() => MetricsType, {
    description: 'Delivery metrics over a window: outcomes, latency, throughput, queue depth and endpoint health.',
  })
  async metrics(@Args(() => MetricsArgs) args: MetricsArgs, @Ctx() ctx: GraphQLContext) {
    return new MetricsService(ctx.em, systemClock).metrics(args.window, withinTenant(args, ctx));
  }

  @Subscription(() => MetricsType, {
    subscribe: ({ args, context }) => {
      const ctx = context as GraphQLContext;
      const { applicationId, endpointId } = withinTenant(args as MetricsArgs, ctx);
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
    return new MetricsService(ctx.orm.em.fork(), systemClock).metrics(args.window, withinTenant(args, ctx));
  }
}

/**
 * An application key sees only its own application's metrics: its application is the scope whatever the
 * arguments say, and asking for another application is answered like an id that does not exist.
 */
function withinTenant(args: MetricsArgs, ctx: GraphQLContext): MetricsArgs {
  const tenant = ctx.scope.applicationId;
  if (tenant === null) return args;
  if (args.applicationId && args.applicationId !== tenant) throw notFound('application', args.applicationId);
  return Object.assign(new MetricsArgs(), args, { applicationId: tenant });
}
