import { Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DEFAULT_PAGE_SIZE } from '../../graphql/pagination';
import { listComplexity } from '../../graphql/query-limits';
import { EndpointHealthState } from './metrics.service';
import { MetricsWindow } from './metrics-window';

registerEnumType(MetricsWindow, {
  name: 'MetricsWindow',
  description: 'How far back metrics look. The time series has 1-minute points up to an hour, coarser beyond.',
});

registerEnumType(EndpointHealthState, {
  name: 'EndpointHealthState',
  valuesConfig: {
    HEALTHY: { description: 'Enabled; its last attempt succeeded and at least 95% did over the window.' },
    DEGRADED: { description: 'Enabled, but its last attempt failed or under 95% succeeded over the window.' },
    FAILING: { description: 'Enabled, and its last 3 or more attempts failed.' },
    DISABLED: { description: 'Disabled (see disabledReason): nothing is delivered to it.' },
  },
});

@ObjectType('LatencySummary', { description: 'Attempt latency in milliseconds; quantiles are estimated from a bucketed histogram.' })
export class LatencySummaryType {
  @Field(() => Float, { nullable: true })
  averageMs!: number | null;

  @Field(() => Float, { nullable: true })
  p50Ms!: number | null;

  @Field(() => Float, { nullable: true })
  p95Ms!: number | null;

  @Field(() => Float, { nullable: true })
  p99Ms!: number | null;

  @Field(() => Float, { nullable: true })
  maxMs!: number | null;
}

/** What an old outcome field counts, and what to read instead: said once for every type that has them. */
const OUTCOME_FIELDS = {
  total: {
    description:
      'Attempt outcomes and dead-letterings recorded: delivered + failed + dead. Not a count of deliveries: a delivery retried three times adds three.',
    deprecationReason: 'Counts attempts, not deliveries. Use attempts, or deliveriesDelivered + deliveriesDeadLettered.',
  },
  delivered: {
    description: 'Attempts that succeeded (2xx). Each finishes its delivery, so this is deliveriesDelivered under an older name.',
    deprecationReason: 'Use deliveriesDelivered (the same count, named for what it counts).',
  },
  failed: {
    description: 'Failed attempts after which a retry was scheduled (attempts, not deliveries; a delivery retried twice adds two).',
    deprecationReason:
      'Counts attempts. Use failedAttempts (every failed attempt) or deliveriesRetrying (deliveries waiting for a retry now).',
  },
  dead: {
    description:
      'Dead-letterings recorded, including those of dead letters retried or replayed since (a dead letter replayed and delivered is counted here and in delivered).',
    deprecationReason: 'Counts dead-letterings, not dead letters. Use deliveriesDeadLettered.',
  },
  successRate: {
    description:
      'delivered / (delivered + failed + dead): successful attempts over attempt outcomes and dead-letterings; null without any.',
    deprecationReason: 'Mixes attempts and deliveries. Use deliverySuccessRate (deliveries), or attempts and failedAttempts.',
  },
} as const;

const DELIVERY_FIELDS = {
  deliveriesDelivered:
    'Deliveries delivered in the window: a 2xx answer finished them (SUCCEEDED). One sent again by retryDelivery after it had succeeded counts again.',
  deliveriesDeadLettered:
    'Deliveries dead-lettered in the window that are dead letters now (DEAD). One retried or replayed since counts by its later outcome instead.',
  deliverySuccessRate:
    'deliveriesDelivered / (deliveriesDelivered + deliveriesDeadLettered); null when no delivery finished in the window.',
  attempts: 'HTTP attempts made in the window, first attempts and retries alike (a dead-lettering without an attempt is none).',
  failedAttempts: 'Attempts that failed in the window (not 2xx, a timeout, a network error), whether a retry or a dead-lettering followed.',
} as const;

@ObjectType('MetricsPoint', { description: 'One step of the metrics time series.' })
export class MetricsPointType extends LatencySummaryType {
  @Field({ description: 'Start of the step.' })
  at!: Date;

  @Field(() => Int, { description: DELIVERY_FIELDS.deliveriesDelivered.replace('the window', 'the step') })
  deliveriesDelivered!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.deliveriesDeadLettered.replace('the window', 'the step') })
  deliveriesDeadLettered!: number;

  @Field(() => Float, { nullable: true, description: DELIVERY_FIELDS.deliverySuccessRate.replace('the window', 'the step') })
  deliverySuccessRate!: number | null;

  @Field(() => Int, { description: DELIVERY_FIELDS.attempts.replace('the window', 'the step') })
  attempts!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.failedAttempts.replace('the window', 'the step') })
  failedAttempts!: number;

  @Field(() => Int, OUTCOME_FIELDS.delivered)
  delivered!: number;

  @Field(() => Int, OUTCOME_FIELDS.failed)
  failed!: number;

  @Field(() => Int, OUTCOME_FIELDS.dead)
  dead!: number;

  @Field(() => Float, {
    description: 'Attempt outcomes and dead-letterings per minute over the step (delivered + failed + dead, per minute).',
  })
  perMinute!: number;

  @Field(() => Float, { nullable: true, ...OUTCOME_FIELDS.successRate })
  successRate!: number | null;
}

@ObjectType('QueueDepth', { description: 'Deliveries not finished yet, now (not limited to the window).' })
export class QueueDepthType {
  @Field(() => Int, { description: 'Deliveries waiting for an attempt now (PENDING): new ones, and ones retried or replayed.' })
  pending!: number;

  @Field(() => Int, { description: 'Deliveries whose last attempt failed, with a retry scheduled (FAILED): Metrics.deliveriesRetrying.' })
  scheduled!: number;

  @Field(() => Date, { nullable: true, description: 'Creation time of the oldest unfinished delivery.' })
  oldestPendingAt!: Date | null;

  @Field(() => Float, { nullable: true, description: 'Age in seconds of the oldest unfinished delivery.' })
  oldestPendingAgeSeconds!: number | null;
}

@ObjectType('EndpointHealth', { description: "An endpoint's health over the window." })
export class EndpointHealthType {
  @Field(() => ID)
  endpointId!: string;

  @Field(() => ID)
  applicationId!: string;

  @Field()
  url!: string;

  @Field()
  enabled!: boolean;

  @Field(() => EndpointHealthState)
  state!: EndpointHealthState;

  @Field(() => Float, {
    nullable: true,
    description:
      'Over the window, delivered / (delivered + failed + dead): the share of attempt outcomes that succeeded, which `state` judges by; null without outcomes. For deliveries, see deliverySuccessRate.',
  })
  successRate!: number | null;

  @Field(() => Int, { description: DELIVERY_FIELDS.deliveriesDelivered })
  deliveriesDelivered!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.deliveriesDeadLettered })
  deliveriesDeadLettered!: number;

  @Field(() => Float, { nullable: true, description: DELIVERY_FIELDS.deliverySuccessRate })
  deliverySuccessRate!: number | null;

  @Field(() => Int, { description: DELIVERY_FIELDS.attempts })
  attempts!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.failedAttempts })
  failedAttempts!: number;

  @Field(() => Int, OUTCOME_FIELDS.delivered)
  delivered!: number;

  @Field(() => Int, OUTCOME_FIELDS.failed)
  failed!: number;

  @Field(() => Int, OUTCOME_FIELDS.dead)
  dead!: number;

  @Field(() => Int, { description: 'Failed attempts in a row; a success resets it.' })
  consecutiveFailures!: number;

  @Field(() => Int, { description: 'Deliveries dead-lettered in a row (the automatic-disable counter).' })
  consecutiveDeadLetters!: number;

  @Field(() => String, { nullable: true })
  lastError!: string | null;

  @Field(() => Date, { nullable: true })
  lastErrorAt!: Date | null;

  @Field(() => Date, { nullable: true })
  lastSuccessAt!: Date | null;

  @Field(() => String, { nullable: true })
  disabledReason!: string | null;
}

@ObjectType('Metrics', {
  description:
    'Delivery metrics over a window, from per-minute rollups. The deliveries* fields count deliveries (each once, by its outcome now); attempts and failedAttempts count HTTP attempts; the older total, delivered, failed, dead and successRate count attempt outcomes.',
})
export class MetricsType {
  @Field(() => MetricsWindow)
  window!: MetricsWindow;

  @Field()
  from!: Date;

  @Field()
  to!: Date;

  @Field(() => Int, { description: 'Width of one throughput point, in seconds.' })
  stepSeconds!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.deliveriesDelivered })
  deliveriesDelivered!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.deliveriesDeadLettered })
  deliveriesDeadLettered!: number;

  @Field(() => Int, {
    description:
      'Deliveries waiting for a retry now (FAILED: their last attempt failed and another is scheduled), whenever they started; queue.scheduled.',
  })
  deliveriesRetrying!: number;

  @Field(() => Float, { nullable: true, description: DELIVERY_FIELDS.deliverySuccessRate })
  deliverySuccessRate!: number | null;

  @Field(() => Int, { description: DELIVERY_FIELDS.attempts })
  attempts!: number;

  @Field(() => Int, { description: DELIVERY_FIELDS.failedAttempts })
  failedAttempts!: number;

  @Field(() => Int, OUTCOME_FIELDS.total)
  total!: number;

  @Field(() => Int, OUTCOME_FIELDS.delivered)
  delivered!: number;

  @Field(() => Int, OUTCOME_FIELDS.failed)
  failed!: number;

  @Field(() => Int, OUTCOME_FIELDS.dead)
  dead!: number;

  @Field(() => Float, { nullable: true, ...OUTCOME_FIELDS.successRate })
  successRate!: number | null;

  @Field(() => LatencySummaryType)
  latency!: LatencySummaryType;

  @Field(() => [MetricsPointType], { description: 'Outcomes and latency per step, oldest first, gaps filled with zeros.' })
  throughput!: MetricsPointType[];

  @Field(() => QueueDepthType)
  queue!: QueueDepthType;

  @Field(() => [EndpointHealthType], {
    description: 'Endpoints in scope (up to 200), disabled and failing first.',
    complexity: listComplexity(DEFAULT_PAGE_SIZE),
  })
  endpoints!: EndpointHealthType[];
}
