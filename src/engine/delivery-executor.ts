import type { HeraldConfig } from '../config';
import { toDate } from '../db/sql';
import { isTransientDatabaseError } from '../db/database-errors';
import type { AttemptOutcome } from '../delivery/attempt-outcome';
import type { WebhookHttpClient } from '../delivery/http-client';
import { type AttemptVerdict, classifyAttempt } from '../delivery/response-classifier';
import { type RetryDecision, type RetryPolicy, decideAfterFailure, retryPolicyProblem } from '../delivery/retry-policy';
import { buildEnvelope, buildSignedHeaders } from '../delivery/webhook-request';
import type { Clock } from '../lib/clock';
import type { SecretBox } from '../lib/encryption';
import { retry } from '../lib/retry';
import { openSigningMaterial } from '../modules/endpoints/endpoint-secrets';
import type { DeliverPayload } from '../queue/deliver-job';
import { DeliveryStatus } from '../queue/delivery-status';
import type { DeliveryStore, DeliveryWork, HoldReason } from './delivery-store';

export type AttemptResult =
  /** `wakeInMs`: the job was rescheduled that far ahead; nudging the worker then saves waiting for its poll. */
  | { kind: 'skipped'; reason: string; wakeInMs?: number }
  | { kind: 'attempted'; status: DeliveryStatus; outcome: AttemptOutcome; attempt: number; verdict: AttemptVerdict };

export interface ExecutorDependencies {
  config: Pick<HeraldConfig, 'delivery' | 'worker'>;
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
    private readonly store: DeliveryStore,
    private readonly deps: ExecutorDependencies,
  ) {}

  /**
   * `lock` names the worker pool holding the job, so a crash sweeper can free what it held, and the job itself,
   * which parking the delivery ends.
   */
  async run(job: DeliverPayload, lock: { poolId: string; jobId?: string } = { poolId: 'local' }): Promise<AttemptResult> {
    // A short database outage (a restart) is waited out rather than failed: a failed job backs off for minutes.
    const start = await retryWhileDatabaseUnavailable(() =>
      this.store.start({ deliveryId: job.deliveryId, attempt: job.attempt, ...lock }, () => this.deps.clock.now()),
    );
    if (start.kind === 'parked') return { kind: 'skipped', reason: `the endpoint has ${start.limit} deliveries in flight; parked` };
    if (start.kind === 'paused') return { kind: 'skipped', reason: 'the endpoint is paused; parked until it is resumed' };
    if (start.kind === 'held') return this.hold(start.work, job, start.reason);
    try {
      return await this.attempt(start.work, job);
    } finally {
      start.release();
    }
  }

  /** Makes the attempt of an admitted delivery (it holds a slot of its endpoint) and records it. */
  private async attempt(work: DeliveryWork, job: DeliverPayload): Promise<AttemptResult> {
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

  /** What a job that may not make its attempt does instead. */
  private async hold(work: DeliveryWork | null, job: DeliverPayload, reason: HoldReason): Promise<AttemptResult> {
    if (!work) return { kind: 'skipped', reason: 'the delivery no longer exists' };
    switch (reason) {
      case 'missing':
        return { kind: 'skipped', reason: 'the delivery no longer exists' };
      case 'finished':
        return { kind: 'skipped', reason: `the delivery is already ${work.status}` };
      case 'already-attempted':
        return { kind: 'skipped', reason: `attempt ${job.attempt} was already made` };
      case 'changed-meanwhile':
        // Whatever recorded it also queued what comes next: a job added here would replace that one.
        return { kind: 'skipped', reason: `attempt ${job.attempt} was recorded, or the delivery finished, by another job meanwhile` };
      case 'disabled':
        return this.deadLetterForDisabledEndpoint(work);
      case 'in-flight-elsewhere': {
        // Its attempt is still running in another live pool: look again once that pool has recorded it or died.
        const later = new Date(this.deps.clock.now().getTime() + this.deps.config.worker.deadAfterMs);
        await this.store.rescheduleAttempt(work.id, job.attempt, later);
        return {
          kind: 'skipped',
          reason: `attempt ${job.attempt} is in flight in another worker; looking again at ${later.toISOString()}`,
        };
      }
      case 'throttled': {
        // The receiver asked for a pause: wait as a scheduled job, not in a worker slot.
        const throttledUntil = toDate(work.throttled_until!);
        await this.store.rescheduleAttempt(work.id, job.attempt, throttledUntil);
        return { kind: 'skipped', reason: `the endpoint is throttled until ${throttledUntil.toISOString()}` };
      }
    }
  }

  /** Over the endpoint's rate: frees the slot just taken and waits for a rate slot as a scheduled job. */
  private async waitForRateSlot(work: DeliveryWork, job: DeliverPayload, perSecond: number): Promise<AttemptResult | null> {
    const slot = await this.store.takeRateSlotOrReschedule(work, job.attempt, perSecond, job.rateSlot !== undefined);
    if (slot.kind === 'now') return null;
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
      // Time spent waiting on a paused endpoint does not age a delivery.
      ageMs: this.deps.clock.now().getTime() - toDate(work.created_at).getTime() - Number(work.paused_ms ?? 0),
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
    const lastError =
      decision?.kind === 'dead' && outcome.errorMessage
        ? `${outcome.errorMessage} Dead-lettered: ${decision.reason}.`
        : outcome.errorMessage;
    return this.store.record({
      work,
      attempt,
      status,
      attemptedAt,
      now,
      nextAttemptAt: decision?.kind === 'retry' ? new Date(now.getTime() + decision.delayMs) : null,
      lastError,
      redactedHeaders,
      outcome,
      verdict,
    });
  }

  private async deadLetterForDisabledEndpoint(work: DeliveryWork): Promise<AttemptResult> {
    await this.store.deadLetterUnattempted(
      work,
      `Not attempted: the endpoint is disabled (${work.disabled_reason ?? 'no reason given'}).`,
      this.deps.clock.now(),
    );
    return { kind: 'skipped', reason: 'the endpoint is disabled; dead-lettered without an attempt' };
  }
}

/**
 * The receiver already has this attempt: losing its record to a database restart would send it again.
 * So recording waits out a short database outage (up to RECORD_RETRY_MS) before giving up, and tries
 * again after a deadlock or serialization failure (its transaction was rolled back, nothing was written).
 */
const RECORD_RETRY_MS = 30_000;

function retryWhileDatabaseUnavailable<T>(work: () => Promise<T>): Promise<T> {
  return retry(work, { initialDelayMs: 100, maxDelayMs: 2000, deadline: Date.now() + RECORD_RETRY_MS, retryIf: isTransientDatabaseError });
}
