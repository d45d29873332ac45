import type { EntityManager } from '@mikro-orm/postgresql';
import type { HeraldConfig } from '../../config';
import { type ChangeMessage, addJobs, execute, notify, toDate } from '../../db/sql';
import type { AttemptOutcome } from '../../delivery/attempt-outcome';
import type { WebhookHttpClient } from '../../delivery/http-client';
import { type AttemptVerdict, classifyAttempt } from '../../delivery/response-classifier';
import { type RetryDecision, type RetryPolicy, decideAfterFailure, retryPolicyProblem } from '../../delivery/retry-policy';
import { buildEnvelope, buildSignedHeaders } from '../../delivery/webhook-request';
import type { Clock } from '../../lib/clock';
import type { SecretBox } from '../../lib/encryption';
import { openSigningMaterial } from '../endpoints/endpoint-secrets';
import type { PreviousSecret } from '../endpoints/endpoint.entity';
import { IdPrefix, newId } from '../../lib/ids';
import { rollUpOutcome } from '../metrics/delivery-rollup';
import { type DeliverPayload, deliverJob } from './deliver-job';
import { DeliveryStatus } from './delivery-status';
import { admit, release } from './endpoint-gate';
import { type EndpointHealthChange, recordEndpointHealth } from './endpoint-health';
import { takeRateSlot } from './endpoint-rate-limit';
import { advanceGroup } from './ordering';

interface DeliveryWork {
  id: string;
  status: DeliveryStatus;
  attempt_count: number;
  application_id: string;
  event_id: string;
  endpoint_id: string;
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
}

export type AttemptResult =
  /** `wakeInMs`: the job was rescheduled that far ahead; nudging the worker then saves waiting for its poll. */
  | { kind: 'skipped'; reason: string; wakeInMs?: number }
  | { kind: 'attempted'; status: DeliveryStatus; outcome: AttemptOutcome; attempt: number; verdict: AttemptVerdict };

export interface ExecutorDependencies {
  config: Pick<HeraldConfig, 'delivery'>;
  http: WebhookHttpClient;
  clock: Clock;
  /** Opens the endpoints' encrypted signing secrets. */
  secrets: SecretBox;
  random?: () => number;
}

/**
 * Makes one attempt of a delivery: loads it, takes a slot of its endpoint (or parks it), signs and POSTs
 * the envelope (no transaction is open while the request is in flight), then records the outcome, the
 * delivery's new status, the endpoint's health, the next job and the notifications in one transaction.
 */
export class DeliveryExecutor {
  constructor(
    private readonly em: EntityManager,
    private readonly deps: ExecutorDependencies,
  ) {}

  /** `poolId` identifies the worker holding the job, so a crash sweeper can free what it held. */
  async run(job: DeliverPayload, poolId = 'local'): Promise<AttemptResult> {
    const [work] = await execute<DeliveryWork>(
      this.em,
      `select d.id, d.status, d.attempt_count, d.application_id, d.event_id, d.endpoint_id, d.created_at,
              d.ordering_group, d.sequence,
              ep.url, ep.secret, ep.previous_secrets, ep.signing_key, ep.headers, ep.enabled, ep.disabled_reason,
              ep.throttled_until, ep.max_concurrency, ep.rate_limit_per_second, ep.retry_policy,
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

    const now = this.deps.clock.now();
    const throttledUntil = work.throttled_until ? toDate(work.throttled_until) : null;
    if (throttledUntil && throttledUntil > now) {
      // The receiver asked for a pause: wait as a scheduled job, not in a worker slot.
      await addJobs(this.em, [deliverJob(work.id, job.attempt, throttledUntil)]);
      return { kind: 'skipped', reason: `the endpoint is throttled until ${throttledUntil.toISOString()}` };
    }
    const limit = work.max_concurrency ?? this.deps.config.delivery.endpointConcurrency;
    const admission = await admit(this.em, { deliveryId: work.id, endpointId: work.endpoint_id, limit, poolId });
    if (admission.kind === 'parked') return { kind: 'skipped', reason: `the endpoint has ${limit} deliveries in flight; parked` };
    // Last before the request, so the starts the rate limit spaces are the requests the receiver sees.
    if (work.rate_limit_per_second !== null) {
      const wait = await this.waitForRateSlot(work, job, work.rate_limit_per_second);
      if (wait) return wait;
    }

    const policy = this.policyFor(work);
    const attemptedAt = this.deps.clock.now();
    const body = buildEnvelope({
      eventId: work.event_id,
      eventType: work.event_type,
      version: work.version,
      dataJson: work.payload,
      createdAt: toDate(work.event_created_at),
      attempt: job.attempt,
      retryable: job.attempt < policy.maxAttempts,
    });
    const signing = openSigningMaterial(
      { id: work.endpoint_id, secret: work.secret, previousSecrets: work.previous_secrets, signingKey: work.signing_key },
      this.deps.secrets,
      attemptedAt,
    );
    const request = buildSignedHeaders({
      eventId: work.event_id,
      body,
      attempt: job.attempt,
      secret: signing.secret,
      previousSecrets: signing.previousSecrets,
      signingKey: signing.signingKey,
      timestampSeconds: Math.floor(attemptedAt.getTime() / 1000),
      customHeaders: work.headers,
      sequence: work.sequence === null ? null : Number(work.sequence),
    });
    const outcome = await this.deps.http.post({
      url: work.url,
      headers: request.headers,
      body,
      timeoutMs: this.deps.config.delivery.timeoutMs,
      responseBodyMaxBytes: this.deps.config.delivery.responseBodyMaxBytes,
    });
    const verdict = classifyAttempt(outcome, { now: this.deps.clock.now(), retryAfterMaxMs: this.deps.config.delivery.retryAfterMaxMs });
    const status = await retryWhileDatabaseUnavailable(() =>
      this.record(work, policy, job.attempt, attemptedAt, request.redactedHeaders, outcome, verdict),
    );
    return status
      ? { kind: 'attempted', status, outcome, attempt: job.attempt, verdict }
      : { kind: 'skipped', reason: 'recorded by another worker' };
  }

  /** Over the endpoint's rate: frees the slot just taken and waits for a rate slot as a scheduled job. */
  private async waitForRateSlot(work: DeliveryWork, job: DeliverPayload, perSecond: number): Promise<AttemptResult | null> {
    const slot = await takeRateSlot(this.em, work.endpoint_id, perSecond, job.rateSlot !== undefined);
    if (slot.kind === 'now') return null;
    await this.em.transactional(async (em) => {
      await addJobs(em, [deliverJob(work.id, job.attempt, slot.at, undefined, slot.at)]);
      await release(em, work.endpoint_id, work.id, this.deps.config.delivery.endpointConcurrency);
    });
    return { kind: 'skipped', reason: `rate limited until ${slot.at.toISOString()}`, wakeInMs: slot.waitMs };
  }

  /** The endpoint's own policy when it has a valid one, else the global policy. */
  private policyFor(work: Pick<DeliveryWork, 'retry_policy'>): RetryPolicy {
    const own = work.retry_policy;
    if (own && retryPolicyProblem(own) === null) return own;
    return this.deps.config.delivery.retry;
  }

  private decide(work: DeliveryWork, policy: RetryPolicy, attempt: number, verdict: AttemptVerdict): RetryDecision | null {
    if (verdict.kind === 'succeeded') return null;
    if (verdict.kind === 'endpoint-gone') return { kind: 'dead', reason: verdict.reason };
    return decideAfterFailure(policy, {
      attemptsMade: attempt,
      retryable: verdict.retryable,
      ageMs: this.deps.clock.now().getTime() - toDate(work.created_at).getTime(),
      retryAfterMs: verdict.retryAfterMs,
      random: this.deps.random,
    });
  }

  private async record(
    work: DeliveryWork,
    policy: RetryPolicy,
    attempt: number,
    attemptedAt: Date,
    redactedHeaders: Record<string, string>,
    outcome: AttemptOutcome,
    verdict: AttemptVerdict,
  ): Promise<DeliveryStatus | null> {
    const decision = this.decide(work, policy, attempt, verdict);
    const status = !decision ? DeliveryStatus.SUCCEEDED : decision.kind === 'retry' ? DeliveryStatus.FAILED : DeliveryStatus.DEAD;
    const now = this.deps.clock.now();
    const nextAttemptAt = decision?.kind === 'retry' ? new Date(now.getTime() + decision.delayMs) : null;
    const lastError =
      decision?.kind === 'dead' && outcome.errorMessage
        ? `${outcome.errorMessage} Dead-lettered: ${decision.reason}.`
        : outcome.errorMessage;

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
          lastError,
          nextAttemptAt,
          outcome.ok,
          attemptedAt,
          work.id,
          attempt - 1,
        ],
      );
      if (updated.length === 0) {
        await release(em, work.endpoint_id, work.id, this.deps.config.delivery.endpointConcurrency);
        return null;
      }
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
      }
      const health = await recordEndpointHealth(em, {
        endpointId: work.endpoint_id,
        now,
        verdict,
        deadLettered: status === DeliveryStatus.DEAD,
        config: this.deps.config.delivery,
      });
      if (work.ordering_group && status !== DeliveryStatus.FAILED) await advanceGroup(em, work.ordering_group);
      const messages: ChangeMessage[] = [
        {
          kind: 'delivery',
          deliveryId: work.id,
          eventId: work.event_id,
          endpointId: work.endpoint_id,
          applicationId: work.application_id,
          status,
          attempt,
        },
      ];
      if (health) messages.push(endpointMessage(work, health));
      await notify(em, messages);
      // Last, so the endpoint's lock (held to the commit) is held as briefly as possible: the delivery
      // frees its slot and wakes a parked one.
      await release(em, work.endpoint_id, work.id, this.deps.config.delivery.endpointConcurrency);
      return status;
    });
  }

  private async deadLetterForDisabledEndpoint(work: DeliveryWork): Promise<AttemptResult> {
    await this.em.transactional(async (em) => {
      await execute(em, `update deliveries set status = 'DEAD', next_attempt_at = null, last_error = ?, updated_at = now() where id = ?`, [
        `Not attempted: the endpoint is disabled (${work.disabled_reason ?? 'no reason given'}).`,
        work.id,
      ]);
      if (work.ordering_group) await advanceGroup(em, work.ordering_group);
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

/**
 * The receiver already has this attempt: losing its record to a database restart would send it again.
 * So recording waits out a short database outage (up to RECORD_RETRY_MS) before giving up.
 */
const RECORD_RETRY_MS = 30_000;

async function retryWhileDatabaseUnavailable<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RECORD_RETRY_MS;
  for (let wait = 100; ; wait = Math.min(2000, wait * 2)) {
    try {
      return await work();
    } catch (error) {
      if (!isConnectionError(error) || Date.now() + wait > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function isConnectionError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (
    typeof code === 'string' &&
    (code.startsWith('08') || code.startsWith('57P') || ['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code))
  ) {
    return true;
  }
  return typeof message === 'string' && /connection|terminat|ECONNREFUSED|shutting down/i.test(message);
}

function endpointMessage(work: Pick<DeliveryWork, 'endpoint_id' | 'application_id'>, change: EndpointHealthChange): ChangeMessage {
  return { kind: 'endpoint', endpointId: work.endpoint_id, applicationId: work.application_id, change: change.kind, reason: change.reason };
}
