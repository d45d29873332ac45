import type { EntityManager } from '@mikro-orm/postgresql';
import { DEFAULT_OPERATOR_EVENTS, type OperatorEventsConfig } from '../../config';
import { type ChangeMessage, type Sql, addJobs, execute, notify, toDate } from '../../db/sql';
import type { AttemptErrorKind } from '../../delivery/attempt-outcome';
import type { Clock } from '../../lib/clock';
import { OperatorEventType, publishOperatorEvents } from '../../queue/operator-events';
import { requeueDeliveries } from '../../queue/requeue';
import { replayJob } from './replay-job';

export const ReplayStatus = {
  /** Counted only: nothing was recorded or re-queued. */
  DRY_RUN: 'DRY_RUN',
  RUNNING: 'RUNNING',
  COMPLETED: 'COMPLETED',
  CANCELLED: 'CANCELLED',
  FAILED: 'FAILED',
} as const;
export type ReplayStatus = (typeof ReplayStatus)[keyof typeof ReplayStatus];

/** Dead letters requeued per batch at most: each batch is one short transaction. */
export const REPLAY_BATCH_SIZE = 100;

export interface ReplayRow {
  id: string;
  application_id: string | null;
  status: ReplayStatus;
  endpoint_id: string | null;
  event_type: string | null;
  error_kind: AttemptErrorKind | null;
  dead_from: string | Date | null;
  dead_to: string | Date | null;
  frozen_at: string | Date;
  cursor: string | null;
  matched: number;
  requeued: number;
  error: string | null;
  created_at: string | Date;
  updated_at: string | Date;
  finished_at: string | Date | null;
}

export type ReplayCriteria = Pick<ReplayRow, 'application_id' | 'endpoint_id' | 'event_type' | 'error_kind' | 'dead_from' | 'dead_to'>;

/**
 * The one definition of "the dead letters a replay matches": DEAD (in dead_deliveries `dd`), of an enabled endpoint
 * (a disabled one would dead-letter them again at once), dead-lettered at or before `frozen`, and within the filter.
 * `from` joins the dead letters to their deliveries `d` and endpoints `ep`.
 */
export function matchingDeadLetters(criteria: ReplayCriteria, frozen: Date | string): { from: string; sql: string; params: unknown[] } {
  const from = 'dead_deliveries dd join deliveries d on d.id = dd.delivery_id join endpoints ep on ep.id = dd.endpoint_id';
  const parts = ['ep.enabled', 'dd.dead_at <= ?::timestamptz'];
  const params: unknown[] = [frozen];
  const add = (sql: string, value: unknown) => {
    parts.push(sql);
    params.push(value);
  };
  if (criteria.application_id) add('dd.application_id = ?', criteria.application_id);
  if (criteria.endpoint_id) add('dd.endpoint_id = ?', criteria.endpoint_id);
  if (criteria.event_type) add('d.event_type = ?', criteria.event_type);
  if (criteria.error_kind) add('d.last_error_kind = ?', criteria.error_kind);
  if (criteria.dead_from) add('dd.dead_at >= ?::timestamptz', criteria.dead_from);
  if (criteria.dead_to) add('dd.dead_at < ?::timestamptz', criteria.dead_to);
  return { from, sql: parts.join(' and '), params };
}

export function replayMessage(row: Pick<ReplayRow, 'id' | 'application_id' | 'status'>): ChangeMessage {
  return { kind: 'replay', replayId: row.id, applicationId: row.application_id, status: row.status };
}

/**
 * One batch of a running replay, in one transaction: re-queues up to `batchSize` matching dead letters
 * after the cursor (with the same requeue as retryDelivery), records the progress, notifies, and
 * schedules the next batch `batch / rate` seconds later, or completes the replay. Returns when the next
 * batch is due, or null when there is none.
 */
export async function runReplayBatch(
  em: EntityManager,
  id: string,
  options: { ratePerSecond: number; batchSize?: number; clock: Clock; operatorEvents?: OperatorEventsConfig },
): Promise<{ nextAt: Date } | null> {
  const batchSize = Math.max(1, Math.min(options.batchSize ?? REPLAY_BATCH_SIZE, options.ratePerSecond));
  return em.transactional(async (tx) => {
    // The row lock makes batches and cancelReplay take turns.
    const [replay] = await execute<ReplayRow>(tx, 'select * from replays where id = ? for update', [id]);
    if (!replay || replay.status !== ReplayStatus.RUNNING) return null;
    const where = matchingDeadLetters(replay, replay.frozen_at);
    const batch = await execute<{ id: string }>(
      tx,
      `select dd.delivery_id as id from ${where.from}
       where ${where.sql} and (?::text is null or dd.delivery_id > ?) order by dd.delivery_id limit ?`,
      [...where.params, replay.cursor, replay.cursor, batchSize],
    );
    const requeued = await requeueDeliveries(
      tx,
      batch.map((row) => row.id),
      { onlyDead: true },
    );
    const done = batch.length < batchSize;
    const [updated] = await execute<ReplayRow>(
      tx,
      `update replays set cursor = coalesce(?, cursor), requeued = requeued + ?, updated_at = now(),
              status = case when ? then 'COMPLETED' else status end, finished_at = case when ? then now() else finished_at end
       where id = ? returning *`,
      [batch[batch.length - 1]?.id ?? null, requeued.length, done, done, id],
    );
    await notify(tx, replayMessage(updated!));
    if (done) {
      await publishReplayCompleted(tx, updated!, options.operatorEvents ?? DEFAULT_OPERATOR_EVENTS, options.clock.now());
      return null;
    }
    const nextAt = new Date(options.clock.now().getTime() + Math.ceil((batch.length / options.ratePerSecond) * 1000));
    await addJobs(tx, [replayJob(id, nextAt)]);
    return { nextAt };
  });
}

/**
 * `herald.replay.completed`, in the transaction that completed the replay: to its application and the operator
 * application (an admin's replay across applications: the operator application only). Never suppressed: a replay
 * completes once.
 */
export async function publishReplayCompleted(db: Sql, row: ReplayRow, config: OperatorEventsConfig, now: Date): Promise<void> {
  await publishOperatorEvents(
    db,
    [
      {
        type: OperatorEventType.replayCompleted,
        applicationId: row.application_id,
        endpointId: null,
        data: {
          replayId: row.id,
          applicationId: row.application_id,
          endpointId: row.endpoint_id,
          eventType: row.event_type,
          matched: Number(row.matched),
          requeued: Number(row.requeued),
          startedAt: toDate(row.created_at).toISOString(),
          occurredAt: (row.finished_at ? toDate(row.finished_at) : now).toISOString(),
        },
      },
    ],
    config,
    now,
  );
}

/** After its job failed for good: the replay ends FAILED with the reason. */
export async function failReplay(em: EntityManager, id: string, reason: string): Promise<void> {
  await em.transactional(async (tx) => {
    const [row] = await execute<ReplayRow>(
      tx,
      `update replays set status = 'FAILED', error = ?, finished_at = now(), updated_at = now()
       where id = ? and status = 'RUNNING' returning *`,
      [reason.slice(0, 1000), id],
    );
    if (row) await notify(tx, replayMessage(row));
  });
}
