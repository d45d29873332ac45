import { ArgsType, Field, Float, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
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

@ArgsType()
export class MetricsArgs {
  @Field(() => MetricsWindow, { defaultValue: MetricsWindow.LAST_HOUR })
  window!: MetricsWindow;

  @Field(() => ID, { nullable: true, description: 'Only this application.' })
  applicationId?: string;

  @Field(() => ID, { nullable: true, description: 'Only this endpoint.' })
  endpointId?: string;
}

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

@ObjectType('MetricsPoint', { description: 'One step of the metrics time series.' })
export class MetricsPointType extends LatencySummaryType {
  @Field({ description: 'Start of the step.' })
  at!: Date;

  @Field(() => Int)
  attempts!: number;

  @Field(() => Int)
  delivered!: number;

  @Field(() => Int)
  failed!: number;

  @Field(() => Int)
  dead!: number;

  @Field(() => Float, { description: 'Outcomes per minute over the step.' })
  perMinute!: number;

  @Field(() => Float, { nullable: true, description: 'delivered / (delivered + failed + dead); null without outcomes.' })
  successRate!: number | null;
}

@ObjectType('QueueDepth', { description: 'Deliveries not finished yet.' })
export class QueueDepthType {
  @Field(() => Int, { description: 'Waiting for an attempt now (PENDING).' })
  pending!: number;

  @Field(() => Int, { description: 'Failed, with a retry scheduled (FAILED).' })
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

  @Field(() => Float, { nullable: true, description: 'Over the window; null without outcomes.' })
  successRate!: number | null;

  @Field(() => Int)
  attempts!: number;

  @Field(() => Int)
  delivered!: number;

  @Field(() => Int)
  failed!: number;

  @Field(() => Int)
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

@ObjectType('Metrics', { description: 'Delivery metrics over a window, from per-minute rollups.' })
export class MetricsType {
  @Field(() => MetricsWindow)
  window!: MetricsWindow;

  @Field()
  from!: Date;

  @Field()
  to!: Date;

  @Field(() => Int, { description: 'Width of one throughput point, in seconds.' })
  stepSeconds!: number;

  @Field(() => Int, { description: 'Every outcome in the window: delivered + failed + dead.' })
  total!: number;

  @Field(() => Int, { description: 'HTTP attempts made.' })
  attempts!: number;

  @Field(() => Int, { description: 'Attempts that succeeded (2xx).' })
  delivered!: number;

  @Field(() => Int, { description: 'Attempts that failed with a retry scheduled.' })
  failed!: number;

  @Field(() => Int, { description: 'Deliveries dead-lettered.' })
  dead!: number;

  @Field(() => Float, { nullable: true, description: 'delivered / total; null without outcomes.' })
  successRate!: number | null;

  @Field(() => LatencySummaryType)
  latency!: LatencySummaryType;

  @Field(() => [MetricsPointType], { description: 'Outcomes and latency per step, oldest first, gaps filled with zeros.' })
  throughput!: MetricsPointType[];

  @Field(() => QueueDepthType)
  queue!: QueueDepthType;

  @Field(() => [EndpointHealthType], { description: 'Endpoints in scope (up to 200), disabled and failing first.' })
  endpoints!: EndpointHealthType[];
}
