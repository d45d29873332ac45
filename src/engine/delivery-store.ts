import type pg from 'pg';
import { DEFAULT_OPERATOR_EVENTS, type HeraldConfig } from '../config';
import {
  type ChangeMessage,
  type Sql,
  type SqlFragment,
  addJobs,
  execute,
  executeWrites,
  NOTIFY_CHANNEL,
  inTransaction,
  notify,
  toDate,
} from '../db/sql';
import type { AttemptOutcome } from '../delivery/attempt-outcome';
import type { AttemptVerdict } from '../delivery/response-classifier';
import type { RetryPolicy } from '../delivery/retry-policy';
import { Batcher } from '../lib/batcher';
import { IdPrefix, newId } from '../lib/ids';
import type { PreviousSecret } from '../modules/endpoints/endpoint.entity';
import { type RolledUpOutcome, rollUpOutcome, rollUpWrites } from '../modules/metrics/delivery-rollup';
import { deliverJob, isRetryAttempt } from '../queue/deliver-job';
import { DeliveryStatus, isUnfinished } from '../queue/delivery-status';
import { admitInTransaction, releaseMany } from './endpoint-gate';
import { type RateSlot, takeRateSlot } from './endpoint-rate-limit';
import { EndpointWaiters } from './endpoint-waiters';
import {
  type EndpointHealthChange,
  type RecoveredEndpoint,
  recordEndpointHealth,
  recoveredEvents,
  resetEndpointHealthWrites,
} from './endpoint-health';
import { type OperatorEvent, OperatorEventType, isOperatorEventType, publishOperatorEvents } from '../queue/operator-events';
import { advanceGroup } from '../queue/ordering';

/** A delivery with what its attempt needs: the endpoint and the event. */
export interface DeliveryWork {
  id: string;
  status: DeliveryStatus;
  attempt_count: number;
  application_id: string;
  event_id: string;
  endpoint_id: string;
  /** When it became due: its creation, or its event's deliverAt (a retry policy's maximum age counts from it). */
  created_at: string | Date;
  ordering_group: string | null;
  sequence: string | null;
  url: string;
  secret: string;
  previous_secrets: PreviousSecret[];
  signing_key: string | null;
  headers: Record<string, string>;
  enabled: boolean;
  disabled_reason: string | null;
  throttled_until: string | Date | null;
  max_concurrency: number | null;
  rate_limit_per_second: number | null;
  retry_policy: RetryPolicy | null;
  event_type: string;
  version: string;
  payload: string;
  event_created_at: string | Date;
  parked_at: string | Date | null;
  /** Set while the endpoint is paused: the delivery is parked without an attempt (see admitInTransaction). */
  paused_at: string | Date | null;
  /** How long the delivery waited on a paused endpoint (bigint, as text): not counted in its age. */
  paused_ms: string | number;
}

/** Why a delivery's job must not make an attempt now (null: it may). */
/** `changed-meanwhile`: another job of the delivery recorded its attempt, or it finished, while this start waited. */
export type HoldReason =
  'missing' | 'finished' | 'already-attempted' | 'disabled' | 'throttled' | 'in-flight-elsewhere' | 'changed-meanwhile';

export function holdReason(work: DeliveryWork | null, attempt: number, now: Date): HoldReason | null {
  if (!work) return 'missing';
  if (!isUnfinished(work.status)) return 'finished';
  if (work.attempt_count + 1 !== attempt) return 'already-attempted';
  // Paused: parked by the admission, under the endpoint's lock, before anything else (disabled, throttled) is decided.
  if (work.paused_at !== null) return null;
  if (!work.enabled) return 'disabled';
  if (work.throttled_until && toDate(work.throttled_until) > now) return 'throttled';
  return null;
}

export interface StartRequest {
  deliveryId: string;
  attempt: number;
  /** The worker pool holding the job, so a crash sweeper can free the slot it takes. */
  poolId: string;
  /** The graphile-worker job making this start, if any: parking the delivery ends it in the same transaction. */
  jobId?: string;
}

/**
 * A job's delivery, loaded, and what it may do: `admitted` holds a slot of its endpoint (`release` reports it
 * freed, to this process's waiters); `parked` found the endpoint full (its job ends; a freed slot wakes it);
 * `held` may not be attempted now (see holdReason).
 */
export type Start =
  | { kind: 'admitted'; work: DeliveryWork; release: () => void }
  | { kind: 'parked'; work: DeliveryWork; limit: number }
  /** The endpoint is paused: parked, no attempt made or counted, until resumeEndpoint wakes it. */
  | { kind: 'paused'; work: DeliveryWork }
  | { kind: 'held'; work: DeliveryWork | null; reason: HoldReason };

/** One start as a batch takes it: `mayWait`, it may wait in memory for a slot this process frees (EndpointWaiters). */
interface BatchStartRequest extends StartRequest {
  now: Date;
  mayWait: boolean;
}

/**
 * A start that found the endpoint full and holds a claim to wait for a slot this process frees, then start again
 * (nothing was written).
 */
type Waiting = { kind: 'waiting'; work: DeliveryWork };

/** What a batch decided for one start. An admission's slot is reported to the waiters only once the batch has committed. */
type BatchStart = Exclude<Start, { kind: 'admitted' }> | { kind: 'admitted'; work: DeliveryWork } | Waiting;

/** One attempt's outcome and what it decided, ready to be written. */
export interface AttemptRecord {
  work: DeliveryWork;
  attempt: number;
  status: DeliveryStatus;
  attemptedAt: Date;
  now: Date;
  nextAttemptAt: Date | null;
  lastError: string | null;
  redactedHeaders: Record<string, string>;
  outcome: AttemptOutcome;
  verdict: AttemptVerdict;
}

/**
 * The delivery pipeline's reads and writes, coalesced across the deliveries a worker process runs at once
 * (see Batcher): starting (loading work and taking endpoint slots) and recording attempts each cost a few
 * statements and one commit per batch instead of per delivery, on the worker's own connections through pg
 * (no ORM unit of work on the hot path), and each hot row (an endpoint's slots, health and metric
 * buckets) is written once per batch. Every delivery's own guarantees are those of one transaction: its
 * attempt, status, metrics, health, next job and notifications commit together or not at all.
 */
export class DeliveryStore {
  private readonly starts = new Batcher<BatchStartRequest, Start | Waiting>((requests) => this.startBatch(requests));
  private readonly records = new Batcher<AttemptRecord, DeliveryStatus | null>((records) => this.recordBatch(records));
  /**
   * The retry lane's own batches (docs/delivery-policy.md): a first attempt never waits for a storm of retries'
   * batch to commit before its own starts. Two batches at once are what two worker processes already run.
   */
  private readonly retryStarts = new Batcher<BatchStartRequest, Start | Waiting>((requests) => this.startBatch(requests));
  private readonly retryRecords = new Batcher<AttemptRecord, DeliveryStatus | null>((records) => this.recordBatch(records));
  /** This process's deliveries waiting for slots it holds. */
  private readonly waiters: EndpointWaiters;

  constructor(
    /** The worker's own connections (not the ORM's, which the API shares in `herald start`). */
    private readonly pool: pg.Pool,
    private readonly config: Pick<HeraldConfig, 'delivery' | 'worker'> & Partial<Pick<HeraldConfig, 'operatorEvents'>>,
    /** Told how long each first attempt's start took, in ms (the retry lane's measure of retries' cost). */
    private readonly observeFirstAttemptStart?: (ms: number) => void,
  ) {
    this.waiters = new EndpointWaiters(config.delivery.slotWaitMs);
  }

  private get operatorEvents() {
    return this.config.operatorEvents ?? DEFAULT_OPERATOR_EVENTS;
  }

  /**
   * Loads the job's delivery and, when it may be attempted, takes a slot of its endpoint or parks it. A delivery
   * finding its endpoint full of this process's own deliveries, about to finish, first waits in memory for one of
   * their slots and asks once more (see EndpointWaiters): one of their slots, not a parking. `now` is read at each ask.
   */
  async start(request: StartRequest, now: () => Date): Promise<Start> {
    const retry = isRetryAttempt(request.attempt);
    const starts = retry ? this.retryStarts : this.starts;
    const startedAt = performance.now();
    const first = await starts.submit({ ...request, now: now(), mayWait: true });
    if (!retry) this.observeFirstAttemptStart?.(performance.now() - startedAt);
    if (first.kind !== 'waiting') return first;
    await this.waiters.wait(first.work.endpoint_id);
    const second = await starts.submit({ ...request, now: now(), mayWait: false });
    if (second.kind === 'waiting') throw new Error('a delivery that may not wait was told to wait');
    return second;
  }

  /** Writes the attempt; null when another worker had already recorded this attempt (nothing changed). */
  record(record: AttemptRecord): Promise<DeliveryStatus | null> {
    return (isRetryAttempt(record.attempt) ? this.retryRecords : this.records).submit(record);
  }

  /** Schedules the attempt's job (replacing the waiting one) to run at `runAt` instead of now. */
  async rescheduleAttempt(deliveryId: string, attempt: number, runAt: Date): Promise<void> {
    await inTransaction(this.pool, async (sql) => {
      // Only while the attempt is still the delivery's next: the job that recorded it queued what follows under the
      // same key, and a job added now would replace that one. The row lock waits for a record in progress.
      const [next] = await execute(
        sql,
        `select 1 from deliveries where id = ? and attempt_count = ? and status in ('PENDING', 'FAILED') for update`,
        [deliveryId, attempt - 1],
      );
      if (next) await addJobs(sql, [deliverJob(deliveryId, attempt, runAt)]);
    });
  }

  /**
   * Takes a start of the endpoint's rate limit for an admitted delivery (see takeRateSlot). Over the rate, its job is
   * rescheduled for the slot it queued for and its endpoint slot freed, committing with the rate slot taken.
   */
  takeRateSlotOrReschedule(work: DeliveryWork, attempt: number, perSecond: number, holdsRateSlot: boolean): Promise<RateSlot> {
    return inTransaction(this.pool, async (sql) => {
      const slot = await takeRateSlot(sql, work.endpoint_id, perSecond, holdsRateSlot);
      if (slot.kind === 'later') {
        await addJobs(sql, [deliverJob(work.id, attempt, slot.at, slot.at)]);
        await releaseMany(sql, [{ endpointId: work.endpoint_id, deliveryId: work.id }], this.config.delivery.endpointConcurrency);
      }
      return slot;
    });
  }

  /**
   * Dead-letters a delivery that will not be attempted (its endpoint is disabled): its status, its FIFO group's
   * next delivery, the metrics and the notification commit together.
   */
  async deadLetterUnattempted(work: DeliveryWork, lastError: string, now: Date): Promise<void> {
    await inTransaction(this.pool, async (sql) => {
      // Guarded by status: a delivery cancelled since it was loaded stays CANCELLED.
      const [dead] = await execute<{ attempt_count: number; last_status_code: number | null; last_error_kind: string | null }>(
        sql,
        `update deliveries set status = 'DEAD', next_attempt_at = null, last_error = ?, updated_at = now()
         where id = ? and status in ('PENDING', 'FAILED') returning attempt_count, last_status_code, last_error_kind`,
        [lastError, work.id],
      );
      if (!dead) return;
      if (work.ordering_group) await advanceGroup(sql, work.ordering_group);
      await rollUpOutcome(sql, {
        endpointId: work.endpoint_id,
        applicationId: work.application_id,
        at: now,
        outcome: 'dead',
        durationMs: null,
        error: null,
      });
      await notify(sql, {
        kind: 'delivery',
        deliveryId: work.id,
        eventId: work.event_id,
        endpointId: work.endpoint_id,
        applicationId: work.application_id,
        status: DeliveryStatus.DEAD,
        attempt: null,
      });
      if (!isOperatorEventType(work.event_type)) {
        const event = deadLetteredEvent(work, now, {
          attempts: dead.attempt_count,
          statusCode: dead.last_status_code,
          errorKind: dead.last_error_kind,
        });
        await publishOperatorEvents(sql, [event], this.operatorEvents, now);
      }
    });
  }

  /**
   * A batch's rows are found by `id = any(array(...))`, which the planner answers from the primary key, while
   * `id in (select ... from json...)` is estimated at 100 rows and often planned as a scan of the whole table.
   *
   * One transaction for the batch: load, then admit what may be attempted. Its commit is not waited for
   * (synchronous_commit off): each job's completion is a later, durable commit, and WAL is flushed in order,
   * so a slot or a parking can only be lost together with the completion of its job, which then runs again.
   */
  private async startBatch(requests: BatchStartRequest[]): Promise<Array<Start | Waiting>> {
    const claimed: string[] = [];
    let decided: BatchStart[];
    try {
      decided = await this.startInTransaction(requests, claimed);
    } catch (error) {
      // Nothing was decided: the claims to wait go back.
      for (const endpointId of claimed) this.waiters.unclaim(endpointId);
      throw error;
    }
    return decided.map((start) =>
      start.kind === 'admitted' ? { kind: 'admitted', work: start.work, release: this.waiters.admitted(start.work.endpoint_id) } : start,
    );
  }

  private startInTransaction(requests: BatchStartRequest[], claimed: string[]): Promise<BatchStart[]> {
    return inTransaction(
      this.pool,
      async (tx) => {
        const rows = await execute<DeliveryWork>(
          tx,
          `select d.id, d.status, d.attempt_count, d.application_id, d.event_id, d.endpoint_id, greatest(d.created_at, ev.deliver_at) as created_at,
                d.ordering_group, d.sequence, d.paused_ms, ep.paused_at,
                (select p.parked_at from parked_deliveries p where p.delivery_id = d.id) as parked_at,
                ep.url, ep.secret, ep.previous_secrets, ep.signing_key, ep.headers, ep.enabled, ep.disabled_reason,
                ep.throttled_until, ep.max_concurrency, ep.rate_limit_per_second, ep.retry_policy,
                ev.type as event_type, ev.version, ev.payload, ev.created_at as event_created_at
         from deliveries d
         join endpoints ep on ep.id = d.endpoint_id
         join events ev on ev.id = d.event_id
         where d.id = any(array(select json_array_elements_text(?::json)))`,
          [JSON.stringify(requests.map((request) => request.deliveryId))],
        );
        const byId = new Map(rows.map((row) => [row.id, row]));
        const screened = requests.map((request) => {
          const work = byId.get(request.deliveryId) ?? null;
          return { request, work, reason: holdReason(work, request.attempt, request.now) };
        });
        const candidates = screened.filter((entry) => entry.reason === null && entry.work);
        const admissions = await admitInTransaction(
          tx,
          candidates.map(({ request, work }) => ({
            deliveryId: work!.id,
            attempt: request.attempt,
            endpointId: work!.endpoint_id,
            limit: this.limitOf(work!),
            poolId: request.poolId,
            jobId: request.jobId,
            parkedAt: work!.parked_at,
            paused: work!.paused_at !== null,
            mayWait: request.mayWait,
          })),
          (admission) => {
            const waits = admission.mayWait && this.waiters.claim(admission.endpointId);
            if (waits) claimed.push(admission.endpointId);
            return waits;
          },
          this.config.worker.deadAfterMs,
        );
        const admissionOf = new Map(candidates.map((entry, index) => [entry.request, admissions[index]!]));
        return screened.map(({ request, work, reason }): BatchStart => {
          if (reason !== null || !work) return { kind: 'held', work, reason: reason ?? 'missing' };
          const admission = admissionOf.get(request)!;
          if (admission.kind === 'admitted') return { kind: 'admitted', work };
          if (admission.kind === 'waiting') return { kind: 'waiting', work };
          if (admission.kind === 'elsewhere') return { kind: 'held', work, reason: 'in-flight-elsewhere' };
          if (admission.kind === 'changed') return { kind: 'held', work, reason: 'changed-meanwhile' };
          if (admission.kind === 'paused') return { kind: 'paused', work };
          return { kind: 'parked', work, limit: this.limitOf(work) };
        });
      },
      { synchronousCommit: false },
    );
  }

  private limitOf(work: DeliveryWork): number {
    return work.max_concurrency ?? this.config.delivery.endpointConcurrency;
  }

  /**
   * One transaction for the batch's outcomes. Its commit is not waited for either (synchronous_commit off), for
   * the same reason as a start's: each job's completion is a later, durable commit and WAL is flushed in order,
   * so an outcome lost to a crash is lost together with its job's completion, and the attempt is made again
   * (at least once, as after a crash during the request). The slots are freed a disk flush sooner.
   */
  private async recordBatch(records: AttemptRecord[]): Promise<(DeliveryStatus | null)[]> {
    return inTransaction(
      this.pool,
      async (db) => {
        // Guarded by the attempt count: an attempt another worker already recorded changes nothing.
        const updated = await execute<{ id: string }>(
          db,
          `with v as (
           select * from json_to_recordset(?::json) as v(id text, status text, attempt int, attempted_at timestamptz,
                                                         status_code int, error_kind text, last_error text,
                                                         next_attempt_at timestamptz, ok boolean)
         )
         update deliveries d set status = v.status, attempt_count = v.attempt, last_attempt_at = v.attempted_at,
                last_status_code = v.status_code, last_error_kind = v.error_kind, last_error = v.last_error,
                next_attempt_at = v.next_attempt_at,
                succeeded_at = case when v.ok then v.attempted_at else d.succeeded_at end, updated_at = now()
         from v
         where d.id = any(array(select id from v)) and d.id = v.id and d.attempt_count = v.attempt - 1
         returning d.id`,
          [
            JSON.stringify(
              records.map((record) => ({
                id: record.work.id,
                status: record.status,
                attempt: record.attempt,
                attempted_at: record.attemptedAt,
                status_code: record.outcome.statusCode,
                error_kind: record.outcome.errorKind,
                last_error: record.lastError,
                next_attempt_at: record.nextAttemptAt,
                ok: record.outcome.ok,
              })),
            ),
          ],
        );
        const updatedIds = new Set(updated.map((row) => row.id));
        const recorded = records.filter((record) => updatedIds.has(record.work.id));
        if (recorded.length > 0) await this.writeConsequences(db, recorded);
        // Last, so the endpoints' locks (held to the commit) are held as briefly as possible: the deliveries
        // free their slots and wake parked ones.
        await releaseMany(
          db,
          records.map((record) => ({ endpointId: record.work.endpoint_id, deliveryId: record.work.id })),
          this.config.delivery.endpointConcurrency,
        );
        return records.map((record) => (updatedIds.has(record.work.id) ? record.status : null));
      },
      { synchronousCommit: false },
    );
  }

  /**
   * The attempts, metrics, next jobs, endpoint health, FIFO successors and notifications of recorded attempts.
   * In the common case (every attempt succeeded, no FIFO group) that is two statements: the attempts with their
   * rollups, then the health reset with the notifications; the rows are locked in the order they always were.
   */
  private async writeConsequences(db: Sql, recorded: AttemptRecord[]): Promise<void> {
    const attempts: SqlFragment = {
      text: `insert into delivery_attempts (id, delivery_id, number, attempted_at, url, request_headers, response_status,
                                      response_body, response_body_truncated, duration_ms, error_kind, error_message)
       select id, delivery_id, number, attempted_at, url, request_headers, response_status, response_body,
              response_body_truncated, duration_ms, error_kind, error_message
       from json_to_recordset(?::json) as r(id text, delivery_id text, number int, attempted_at timestamptz, url text,
                                            request_headers jsonb, response_status int, response_body text,
                                            response_body_truncated boolean, duration_ms int, error_kind text, error_message text)`,
      params: [
        JSON.stringify(
          recorded.map((record) => ({
            id: newId(IdPrefix.attempt),
            delivery_id: record.work.id,
            number: record.attempt,
            attempted_at: record.attemptedAt,
            url: record.work.url,
            request_headers: record.redactedHeaders,
            response_status: record.outcome.statusCode,
            response_body: record.outcome.responseBody,
            response_body_truncated: record.outcome.responseBodyTruncated,
            duration_ms: record.outcome.durationMs,
            error_kind: record.outcome.errorKind,
            error_message: record.outcome.errorMessage,
          })),
        ),
      ],
    };
    await executeWrites(db, [attempts, ...rollUpWrites(recorded.map(rolledUp))]);
    await addJobs(
      db,
      recorded
        .filter((record) => record.status === DeliveryStatus.FAILED && record.nextAttemptAt)
        .map((record) => deliverJob(record.work.id, record.attempt + 1, record.nextAttemptAt!)),
    );
    const { messages, healthy, operatorEvents } = await this.writeEndpointHealth(db, recorded);
    // Groups' locks in one order for every transaction that takes several (as publishes take them), so two batches
    // finishing deliveries of the same groups cannot deadlock on them.
    const finishedGroups = new Set<string>();
    for (const record of recorded) {
      if (record.work.ordering_group && record.status !== DeliveryStatus.FAILED) finishedGroups.add(record.work.ordering_group);
    }
    for (const group of [...finishedGroups].sort()) await advanceGroup(db, group);
    for (const record of recorded) {
      messages.push({
        kind: 'delivery',
        deliveryId: record.work.id,
        eventId: record.work.event_id,
        endpointId: record.work.endpoint_id,
        applicationId: record.work.application_id,
        status: record.status,
        attempt: record.attempt,
      });
    }
    // The endpoints the reset found failing come back from the same statement: a recovery costs no round trip of its own.
    const [last] = await executeWrites<{ recovered: RecoveredEndpoint[] | null }>(db, resetEndpointHealthWrites(healthy), {
      text: `select ${healthy.length > 0 ? '(select json_agg(w0) from w0)' : 'null::json'} as recovered,
                    (select count(pg_notify(?, m)) from json_array_elements_text(?::json) as m) as notified`,
      // One NOTIFY per message keeps each under PostgreSQL's 8000-byte payload limit (as notifyQuery).
      params: [NOTIFY_CHANNEL, JSON.stringify(messages.map((message) => JSON.stringify(message)))],
    });
    const now = recorded.reduce((latest, record) => (record.now > latest ? record.now : latest), recorded[0]!.now);
    operatorEvents.push(...recoveredEvents(last?.recovered ?? [], now));
    if (operatorEvents.length > 0) await publishOperatorEvents(db, operatorEvents, this.operatorEvents, now);
  }

  /**
   * Endpoints whose attempts in the batch all succeeded (the common case) are returned as `healthy`, for the
   * caller to reset in its last statement; the others go through the health rules attempt by attempt, in order.
   */
  private async writeEndpointHealth(
    db: Sql,
    recorded: AttemptRecord[],
  ): Promise<{ messages: ChangeMessage[]; healthy: string[]; operatorEvents: OperatorEvent[] }> {
    const byEndpoint = new Map<string, AttemptRecord[]>();
    for (const record of recorded) {
      const list = byEndpoint.get(record.work.endpoint_id) ?? [];
      list.push(record);
      byEndpoint.set(record.work.endpoint_id, list);
    }
    const healthy: string[] = [];
    const messages: ChangeMessage[] = [];
    const operatorEvents: OperatorEvent[] = [];
    for (const [endpointId, list] of [...byEndpoint].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (list.every((record) => record.verdict.kind === 'succeeded')) {
        healthy.push(endpointId);
        continue;
      }
      for (const record of list) {
        const health = await recordEndpointHealth(db, {
          endpointId,
          now: record.now,
          verdict: record.verdict,
          deadLettered: record.status === DeliveryStatus.DEAD,
          config: this.config.delivery,
          lastAttempt: { statusCode: record.outcome.statusCode, errorKind: record.outcome.errorKind },
        });
        if (health.change) messages.push(endpointMessage(record.work, health.change));
        // In the order they happened: the first failure, the dead letter, then the disabling it caused.
        const disabling = health.operatorEvents.filter((event) => event.type === OperatorEventType.endpointDisabled);
        operatorEvents.push(...health.operatorEvents.filter((event) => event.type !== OperatorEventType.endpointDisabled));
        if (record.status === DeliveryStatus.DEAD && !isOperatorEventType(record.work.event_type)) {
          operatorEvents.push(
            deadLetteredEvent(record.work, record.now, {
              attempts: record.attempt,
              statusCode: record.outcome.statusCode,
              errorKind: record.outcome.errorKind,
            }),
          );
        }
        operatorEvents.push(...disabling);
      }
    }
    return { messages, healthy, operatorEvents };
  }
}

function rolledUp(record: AttemptRecord): RolledUpOutcome {
  return {
    endpointId: record.work.endpoint_id,
    applicationId: record.work.application_id,
    at: record.attemptedAt,
    outcome: record.status === DeliveryStatus.SUCCEEDED ? 'delivered' : record.status === DeliveryStatus.FAILED ? 'failed' : 'dead',
    durationMs: record.outcome.durationMs,
    error: record.outcome.ok ? null : (record.outcome.errorMessage ?? `HTTP ${record.outcome.statusCode ?? '?'}`),
  };
}

/** `herald.delivery.dead_lettered` for a delivery (not one of an operator event: a failing receiver would feed itself). */
function deadLetteredEvent(
  work: Pick<DeliveryWork, 'id' | 'event_id' | 'event_type' | 'endpoint_id' | 'application_id'>,
  now: Date,
  last: { attempts: number; statusCode: number | null; errorKind: string | null },
): OperatorEvent {
  return {
    type: OperatorEventType.deliveryDeadLettered,
    applicationId: work.application_id,
    endpointId: work.endpoint_id,
    data: {
      endpointId: work.endpoint_id,
      applicationId: work.application_id,
      occurredAt: now.toISOString(),
      deliveryId: work.id,
      eventId: work.event_id,
      eventType: work.event_type,
      attempts: Number(last.attempts),
      lastStatusCode: last.statusCode,
      lastErrorKind: last.errorKind,
    },
  };
}

export function endpointMessage(work: Pick<DeliveryWork, 'endpoint_id' | 'application_id'>, change: EndpointHealthChange): ChangeMessage {
  return { kind: 'endpoint', endpointId: work.endpoint_id, applicationId: work.application_id, change: change.kind, reason: change.reason };
}
