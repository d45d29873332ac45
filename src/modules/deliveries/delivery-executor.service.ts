import type { EntityManager } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../../config';
import { addJobs, execute, notify, toDate } from '../../db/sql';
import type { AttemptOutcome } from '../../delivery/attempt-outcome';
import type { WebhookHttpClient } from '../../delivery/http-client';
import { type BackoffPolicy, decideAfterFailure } from '../../delivery/retry-policy';
import { buildEnvelope, buildSignedHeaders } from '../../delivery/webhook-request';
import type { Clock } from '../../lib/clock';
import { IdPrefix, newId } from '../../lib/ids';
import { rollUpOutcome } from '../metrics/delivery-rollup';
import { type DeliverPayload, deliverJob } from './deliver-job';
import { DeliveryStatus } from './delivery-status';

interface DeliveryWork {
  id: string;
  status: DeliveryStatus;
  attempt_count: number;
  application_id: string;
  event_id: string;
  endpoint_id: string;
  url: string;
  secret: string;
  headers: Record<string, string>;
  enabled: boolean;
  disabled_reason: string | null;
  event_type: string;
  version: string;
  payload: string;
  event_created_at: string | Date;
}

export type AttemptResult =
  { kind: 'skipped'; reason: string } | { kind: 'attempted'; status: DeliveryStatus; outcome: AttemptOutcome; attempt: number };

export interface ExecutorDependencies {
  config: Pick<HeraldConfig, 'delivery'>;
  http: WebhookHttpClient;
  clock: Clock;
  random?: () => number;
}

/**
 * Makes one attempt of a delivery: loads it, signs and POSTs the envelope (no transaction is open while
 * the request is in flight), then records the outcome, the delivery's new status, the next job and the
 * notification in one transaction.
 */
export class DeliveryExecutor {
  constructor(
    private readonly em: EntityManager,
    private readonly deps: ExecutorDependencies,
  ) {}

  private get policy(): BackoffPolicy {
    const { maxAttempts, backoff } = this.deps.config.delivery;
    return { maxAttempts, ...backoff };
  }

  async run(job: DeliverPayload): Promise<AttemptResult> {
    const [work] = await execute<DeliveryWork>(
      this.em,
      `select d.id, d.status, d.attempt_count, d.application_id, d.event_id, d.endpoint_id,
              ep.url, ep.secret, ep.headers, ep.enabled, ep.disabled_reason,
              ev.type as event_type, ev.version, ev.payload, ev.created_at as event_created_at
       from deliveries d
       join endpoints ep on ep.id = d.endpoint_id
       join events ev on ev.id = d.event_id
       where d.id = ?`,
      [job.deliveryId],
    );
    if (!work) return { kind: 'skipped', reason: 'the delivery no longer exists' };
    if (work.status === DeliveryStatus.SUCCEEDED || work.status === DeliveryStatus.DEAD) {
      return { kind: 'skipped', reason: `the delivery is already ${work.status}` };
    }
    if (work.attempt_count + 1 !== job.attempt) {
      return { kind: 'skipped', reason: `attempt ${job.attempt} was already made` };
    }
    if (!work.enabled) return this.deadLetterForDisabledEndpoint(work);

    const attemptedAt = this.deps.clock.now();
    const maxAttempts = this.policy.maxAttempts;
    const body = buildEnvelope({
      eventId: work.event_id,
      eventType: work.event_type,
      version: work.version,
      dataJson: work.payload,
      createdAt: toDate(work.event_created_at),
      attempt: job.attempt,
      retryable: job.attempt < maxAttempts,
    });
    const request = buildSignedHeaders({
      eventId: work.event_id,
      body,
      attempt: job.attempt,
      secret: work.secret,
      timestampSeconds: Math.floor(attemptedAt.getTime() / 1000),
      customHeaders: work.headers,
    });
    const outcome = await this.deps.http.post({
      url: work.url,
      headers: request.headers,
      body,
      timeoutMs: this.deps.config.delivery.timeoutMs,
      responseBodyMaxBytes: this.deps.config.delivery.responseBodyMaxBytes,
    });
    const status = await this.record(work, job.attempt, attemptedAt, request.redactedHeaders, outcome);
    return status
      ? { kind: 'attempted', status, outcome, attempt: job.attempt }
      : { kind: 'skipped', reason: 'recorded by another worker' };
  }

  private async record(
    work: DeliveryWork,
    attempt: number,
    attemptedAt: Date,
    redactedHeaders: Record<string, string>,
    outcome: AttemptOutcome,
  ): Promise<DeliveryStatus | null> {
    const decision = outcome.ok ? null : decideAfterFailure(this.policy, attempt, true, this.deps.random);
    const status = outcome.ok ? DeliveryStatus.SUCCEEDED : decision?.kind === 'retry' ? DeliveryStatus.FAILED : DeliveryStatus.DEAD;
    const nextAttemptAt = decision?.kind === 'retry' ? new Date(this.deps.clock.now().getTime() + decision.delayMs) : null;

    return this.em.transactional(async (em) => {
      // Guarded by the attempt count: if another worker already recorded this attempt, change nothing.
      const updated = await execute(
        em,
        `update deliveries set status = ?, attempt_count = ?, last_attempt_at = ?, last_status_code = ?,
                last_error_kind = ?, last_error = ?, next_attempt_at = ?,
                succeeded_at = case when ? then ?::timestamptz else succeeded_at end, updated_at = now()
         where id = ? and attempt_count = ? returning id`,
        [
          status,
          attempt,
          attemptedAt,
          outcome.statusCode,
          outcome.errorKind,
          outcome.errorMessage,
          nextAttemptAt,
          outcome.ok,
          attemptedAt,
          work.id,
          attempt - 1,
        ],
      );
      if (updated.length === 0) return null;
      await execute(
        em,
        `insert into delivery_attempts (id, delivery_id, number, attempted_at, url, request_headers, response_status,
                                        response_body, response_body_truncated, duration_ms, error_kind, error_message)
         values (?, ?, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?)`,
        [
          newId(IdPrefix.attempt),
          work.id,
          attempt,
          attemptedAt,
          work.url,
          JSON.stringify(redactedHeaders),
          outcome.statusCode,
          outcome.responseBody,
          outcome.responseBodyTruncated,
          outcome.durationMs,
          outcome.errorKind,
          outcome.errorMessage,
        ],
      );
      await rollUpOutcome(em, {
        endpointId: work.endpoint_id,
        applicationId: work.application_id,
        at: attemptedAt,
        outcome: status === DeliveryStatus.SUCCEEDED ? 'delivered' : status === DeliveryStatus.FAILED ? 'failed' : 'dead',
        durationMs: outcome.durationMs,
        error: outcome.ok ? null : (outcome.errorMessage ?? `HTTP ${outcome.statusCode ?? '?'}`),
      });
      if (status === DeliveryStatus.FAILED && nextAttemptAt) {
        await addJobs(em, [deliverJob(work.id, attempt + 1, nextAttemptAt)]);
      } else if (status === DeliveryStatus.SUCCEEDED) {
        await execute(em, 'update endpoints set consecutive_dead_letters = 0 where id = ? and consecutive_dead_letters <> 0', [
          work.endpoint_id,
        ]);
      } else {
        await this.countDeadLetter(em, work.endpoint_id);
      }
      await notify(em, {
        kind: 'delivery',
        deliveryId: work.id,
        eventId: work.event_id,
        endpointId: work.endpoint_id,
        applicationId: work.application_id,
        status,
        attempt,
      });
      return status;
    });
  }

  /** The seed design's rule: an endpoint whose deliveries keep dying is disabled, with the reason. */
  private async countDeadLetter(em: EntityManager, endpointId: string): Promise<void> {
    const threshold = this.deps.config.delivery.disableAfterDeadLetters;
    await execute(
      em,
      `update endpoints set consecutive_dead_letters = consecutive_dead_letters + 1,
              enabled = case when ? > 0 and consecutive_dead_letters + 1 >= ? then false else enabled end,
              disabled_reason = case when ? > 0 and consecutive_dead_letters + 1 >= ? and enabled
                                     then ? else disabled_reason end,
              disabled_at = case when ? > 0 and consecutive_dead_letters + 1 >= ? and enabled then now() else disabled_at end,
              updated_at = now()
       where id = ?`,
      [
        threshold,
        threshold,
        threshold,
        threshold,
        `Disabled automatically after ${threshold} deliveries in a row were dead-lettered`,
        threshold,
        threshold,
        endpointId,
      ],
    );
  }

  private async deadLetterForDisabledEndpoint(work: DeliveryWork): Promise<AttemptResult> {
    await this.em.transactional(async (em) => {
      await execute(em, `update deliveries set status = 'DEAD', next_attempt_at = null, last_error = ?, updated_at = now() where id = ?`, [
        `Not attempted: the endpoint is disabled (${work.disabled_reason ?? 'no reason given'}).`,
        work.id,
      ]);
      await rollUpOutcome(em, {
        endpointId: work.endpoint_id,
        applicationId: work.application_id,
        at: this.deps.clock.now(),
        outcome: 'dead',
        durationMs: null,
        error: null,
      });
      await notify(em, {
        kind: 'delivery',
        deliveryId: work.id,
        eventId: work.event_id,
        endpointId: work.endpoint_id,
        applicationId: work.application_id,
        status: DeliveryStatus.DEAD,
        attempt: null,
      });
    });
    return { kind: 'skipped', reason: 'the endpoint is disabled; dead-lettered without an attempt' };
  }
}
