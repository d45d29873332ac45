import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { AttemptErrorKind } from '../../delivery/attempt-outcome';
import { ConnectionType } from '../../graphql/pagination';
import { type Replay, ReplayStatus } from './replay.service';

registerEnumType(ReplayStatus, {
  name: 'ReplayStatus',
  valuesConfig: {
    DRY_RUN: { description: 'Counted only (dryRun: true): nothing was recorded or re-queued.' },
    RUNNING: { description: 'Re-queueing the matched dead letters in the background, batch by batch.' },
    COMPLETED: { description: 'Every matched dead letter still dead when its batch came was re-queued.' },
    CANCELLED: { description: 'Stopped by cancelReplay; what was re-queued before stays queued.' },
    FAILED: { description: 'A batch kept failing; `error` says why. What was re-queued before stays queued.' },
  },
});

@ObjectType('ReplayFilter', { description: 'The filter a replay was started with.' })
export class ReplayFilterType {
  @Field(() => ID, { nullable: true, description: 'The application replayed; null: every application (admin keys).' })
  applicationId!: string | null;

  @Field(() => ID, { nullable: true })
  endpointId!: string | null;

  @Field(() => String, { nullable: true })
  eventType!: string | null;

  @Field(() => Date, { nullable: true })
  from!: Date | null;

  @Field(() => Date, { nullable: true })
  to!: Date | null;

  @Field(() => AttemptErrorKind, { nullable: true })
  errorKind!: AttemptErrorKind | null;
}

@ObjectType('Replay', { description: 'A bulk redrive of dead letters (replayDeadLetters) and its progress.' })
export class ReplayType {
  @Field(() => ID, { nullable: true, description: 'Null for a dry run: nothing is recorded.' })
  id!: string | null;

  @Field(() => ReplayStatus)
  status!: ReplayStatus;

  @Field(() => ReplayFilterType)
  filter!: ReplayFilterType;

  @Field(() => Int, { description: 'Dead letters the filter matched when the replay started.' })
  matched!: number;

  @Field(() => Int, { description: 'Dead letters re-queued so far.' })
  requeued!: number;

  @Field(() => String, { nullable: true, description: 'Why the replay FAILED.' })
  error!: string | null;

  @Field()
  createdAt!: Date;

  @Field()
  updatedAt!: Date;

  @Field(() => Date, { nullable: true })
  finishedAt!: Date | null;

  static from(replay: Replay): ReplayType {
    return Object.assign(new ReplayType(), {
      id: replay.id,
      status: replay.status,
      filter: Object.assign(new ReplayFilterType(), replay.filter),
      matched: replay.matched,
      requeued: replay.requeued,
      error: replay.error,
      createdAt: replay.createdAt,
      updatedAt: replay.updatedAt,
      finishedAt: replay.finishedAt,
    });
  }
}

@ObjectType()
export class ReplayConnection extends ConnectionType(ReplayType, 'Replay') {}
