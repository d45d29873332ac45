import type { EntityManager } from '@mikro-orm/postgresql';
import { execute, notify } from '../../db/sql';
import { generateSecret, generateSigningKeyPair, isValidSecret } from '../../delivery/signature';
import { type Clock, systemClock } from '../../lib/clock';
import type { SecretBox } from '../../lib/encryption';
import { ErrorCode, HeraldError, badInput, notFound } from '../../lib/errors';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import { ALL_APPLICATIONS, type TenantScope, applicationCondition } from '../api-keys/principal';
import { ApplicationService } from '../applications/application.service';
import { type CatalogConfig, CatalogService } from '../catalog/catalog.service';
import { DELIVER_JOB_KEY_PREFIX } from '../../queue/deliver-job';
import { type OperatorEvent, OperatorEventType, publishOperatorEvents } from '../../queue/operator-events';
import { DEFAULT_OPERATOR_EVENTS, type OperatorEventsConfig } from '../../config';
import { DeliveryStatus } from '../../queue/delivery-status';
import { lockEndpoints, wakeParked } from '../../queue/endpoint-parking';
import { advanceGroup, lockGroups } from '../../queue/ordering';
import { fanOutMissedEvents } from '../../queue/publish';
import { requeueDeliveries } from '../../queue/requeue';
import { EndpointEntity } from './endpoint.entity';
import {
  type RetryPolicyInputShape,
  normaliseDescription,
  normaliseFilters,
  normaliseVersionPins,
  retryPolicyFromInput,
  validateConcurrency,
  validateHeaders,
} from './endpoint-validation';
import type { SsrfPolicy } from '../../delivery/ssrf-guard';
import { validateReceiverUrl } from './endpoint-url';
import { validateRateLimit } from './rate-limit-input';
import { endpointSnapshot, recordAudit } from '../audit/audit.service';
import { DEFAULT_ROTATION_GRACE_SECONDS, MAX_PREVIOUS_SECRETS, MAX_ROTATION_GRACE_SECONDS, secretContext } from './endpoint-secrets';

export interface RegisterEndpoint {
  url: string;
  applicationId?: string | null;
  description?: string | null;
  eventTypes?: string[] | null;
  eventVersions?: Record<string, unknown> | null;
  headers?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
  secret?: string | null;
  /** Also sign with ed25519 (`v1a`): a key pair is generated and its public key published on the endpoint. */
  asymmetricSignatures?: boolean | null;
  maxConcurrency?: number | null;
  rateLimitPerSecond?: number | null;
  retryPolicy?: RetryPolicyInputShape | null;
  ordered?: boolean | null;
}

export type UpdateEndpoint = Partial<Omit<RegisterEndpoint, 'applicationId' | 'secret'>> & {
  clearRetryPolicy?: boolean | null;
  clearRateLimit?: boolean | null;
};

/** Slots per endpoint when no configuration is given (ENDPOINT_MAX_CONCURRENCY's default). */
const DEFAULT_ENDPOINT_CONCURRENCY = 64;

/** How many missed deliveries enableEndpoint(redeliverMissed) re-queues at most in one call. */
const REDELIVER_LIMIT = 10_000;

/**
 * The endpoint's unfinished deliveries `d` (parameters: application id, endpoint id), found through open_deliveries by
 * application; the status is checked again on the row, which a concurrent outcome may have finished.
 */
const ENDPOINT_UNFINISHED = `d.id = any(array(select o.delivery_id from open_deliveries o where o.application_id = ? and o.endpoint_id = ?))
  and d.status in ('PENDING', 'FAILED')`;

export class EndpointService {
  constructor(
    private readonly em: EntityManager,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
    /**
     * With `ssrf` (the resolvers pass the whole config): without it, URLs are judged with nothing allowed. `delivery`:
     * the default slots per endpoint, which resuming fills.
     */
    private readonly catalog: CatalogConfig & {
      ssrf?: SsrfPolicy;
      delivery?: { endpointConcurrency: number };
      operatorEvents?: OperatorEventsConfig;
    } = { catalogStrict: false },
    private readonly clock: Clock = systemClock,
  ) {}

  private get ssrf(): SsrfPolicy {
    return this.catalog.ssrf ?? { allowCidrs: [], allowLoopback: false };
  }

  async register(input: RegisterEndpoint, secrets: SecretBox): Promise<{ endpoint: EndpointEntity; secret: string }> {
    const application = await new ApplicationService(this.em, this.scope).resolve(input.applicationId);
    const url = validateReceiverUrl(input.url, this.ssrf);
    const eventTypes = normaliseFilters(input.eventTypes);
    const eventVersions = normaliseVersionPins(input.eventVersions);
    await new CatalogService(this.em, this.catalog).assertSubscribable(eventTypes, eventVersions);
    if (input.secret != null && !isValidSecret(input.secret)) {
      throw badInput('"secret" must be "whsec_" followed by the base64 of 24 to 64 random bytes; omit it to have one generated.', {
        field: 'secret',
      });
    }
    const secret = input.secret ?? generateSecret();
    const endpoint = this.em.create(EndpointEntity, {
      application,
      url,
      description: normaliseDescription(input.description),
      eventTypes,
      eventVersions,
      secret: '',
      headers: validateHeaders(input.headers),
      metadata: input.metadata ?? null,
      maxConcurrency: validateConcurrency(input.maxConcurrency),
      rateLimitPerSecond: validateRateLimit(input.rateLimitPerSecond),
      retryPolicy: input.retryPolicy ? retryPolicyFromInput(input.retryPolicy) : null,
      ordered: input.ordered ?? false,
    });
    endpoint.secret = secrets.encrypt(secret, secretContext(endpoint.id));
    if (input.asymmetricSignatures) setSigningKey(endpoint, secrets, true);
    await this.em.transactional(async (em) => {
      // A transaction's fork carries the loaded entities, not the ones waiting to be inserted.
      em.persist(endpoint);
      await em.flush();
      await this.audit(em, 'endpoint.created', endpoint, undefined);
    });
    return { endpoint, secret };
  }

  async update(id: string, input: UpdateEndpoint): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    const before = endpointSnapshot(endpoint);
    if (input.url != null) endpoint.url = validateReceiverUrl(input.url, this.ssrf);
    if (input.description !== undefined) endpoint.description = normaliseDescription(input.description);
    if (input.eventTypes != null || input.eventVersions != null) {
      const eventTypes = input.eventTypes != null ? normaliseFilters(input.eventTypes) : endpoint.eventTypes;
      const eventVersions = input.eventVersions != null ? normaliseVersionPins(input.eventVersions) : endpoint.eventVersions;
      await new CatalogService(this.em, this.catalog).assertSubscribable(eventTypes, eventVersions, endpoint.eventTypes);
      endpoint.eventTypes = eventTypes;
      endpoint.eventVersions = eventVersions;
    }
    if (input.headers != null) endpoint.headers = validateHeaders(input.headers);
    if (input.metadata !== undefined) endpoint.metadata = input.metadata ?? null;
    if (input.maxConcurrency != null) endpoint.maxConcurrency = validateConcurrency(input.maxConcurrency);
    if (input.rateLimitPerSecond != null && input.clearRateLimit) {
      throw badInput('Give either "rateLimitPerSecond" or "clearRateLimit", not both.', { field: 'rateLimitPerSecond' });
    }
    if (input.rateLimitPerSecond != null) endpoint.rateLimitPerSecond = validateRateLimit(input.rateLimitPerSecond);
    if (input.clearRateLimit) endpoint.rateLimitPerSecond = null;
    if (input.retryPolicy != null && input.clearRetryPolicy) {
      throw badInput('Give either "retryPolicy" or "clearRetryPolicy", not both.', { field: 'retryPolicy' });
    }
    if (input.retryPolicy != null) endpoint.retryPolicy = retryPolicyFromInput(input.retryPolicy);
    if (input.clearRetryPolicy) endpoint.retryPolicy = null;
    if (input.ordered != null) endpoint.ordered = input.ordered;
    await this.em.transactional(async (em) => {
      await em.flush();
      await this.audit(em, 'endpoint.updated', endpoint, before);
    });
    return endpoint;
  }

  /** Turns ed25519 (`v1a`) signatures on (a new key pair) or off. */
  async setAsymmetricSignatures(id: string, enabled: boolean, secrets: SecretBox): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    const before = endpointSnapshot(endpoint);
    setSigningKey(endpoint, secrets, enabled);
    await this.em.transactional(async (em) => {
      await em.flush();
      await this.audit(
        em,
        enabled ? 'endpoint.asymmetric_signatures_enabled' : 'endpoint.asymmetric_signatures_disabled',
        endpoint,
        before,
      );
    });
    return endpoint;
  }

  async disable(id: string, reason?: string | null): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    const wasEnabled = endpoint.enabled;
    const before = endpointSnapshot(endpoint);
    await this.em.transactional(async (em) => {
      endpoint.enabled = false;
      endpoint.disabledReason = reason?.trim().slice(0, 500) || 'Disabled by a user';
      endpoint.disabledAt = this.clock.now();
      await em.flush();
      await notify(em, {
        kind: 'endpoint',
        endpointId: endpoint.id,
        applicationId: endpoint.application.id,
        change: 'DISABLED',
        reason: endpoint.disabledReason,
      });
      await this.audit(em, 'endpoint.disabled', endpoint, before);
      if (wasEnabled) {
        await this.publishOperatorEvent(em, endpoint, OperatorEventType.endpointDisabled, {
          cause: 'MANUAL',
          reason: endpoint.disabledReason,
          consecutiveFailures: endpoint.consecutiveFailures,
          consecutiveDeadLetters: endpoint.consecutiveDeadLetters,
          failingSince: endpoint.failingSince?.toISOString() ?? null,
        });
      }
    });
    return endpoint;
  }

  /**
   * Enables the endpoint and resets its health. With `redeliverMissed`, also re-queues what it missed:
   * its dead letters since it started failing (or was disabled), and a new delivery for each matching
   * event published while it was disabled. Returns the endpoint and how many deliveries were queued.
   */
  async enable(id: string, options: { redeliverMissed?: boolean | null } = {}): Promise<{ endpoint: EndpointEntity; redelivered: number }> {
    const endpoint = await this.get(id);
    const missedSince = endpoint.failingSince ?? endpoint.disabledAt;
    const wasDisabled = !endpoint.enabled;
    const before = endpointSnapshot(endpoint);
    let redelivered = 0;
    await this.em.transactional(async (em) => {
      endpoint.enabled = true;
      endpoint.disabledReason = null;
      endpoint.disabledAt = null;
      endpoint.consecutiveDeadLetters = 0;
      endpoint.consecutiveFailures = 0;
      endpoint.failingSince = null;
      endpoint.throttledUntil = null;
      await em.flush();
      if (options.redeliverMissed && missedSince) redelivered = await redeliverMissed(em, endpoint, missedSince);
      await this.audit(em, 'endpoint.enabled', endpoint, before);
      if (wasDisabled) {
        await notify(em, {
          kind: 'endpoint',
          endpointId: endpoint.id,
          applicationId: endpoint.application.id,
          change: 'ENABLED',
          reason: null,
        });
        await this.publishOperatorEvent(em, endpoint, OperatorEventType.endpointEnabled, { redelivered });
      }
    });
    return { endpoint, redelivered };
  }

  /** An operator event of the endpoint's transition, in the transition's transaction (`em`). */
  private async publishOperatorEvent(
    em: EntityManager,
    endpoint: EndpointEntity,
    type: OperatorEvent['type'],
    data: Record<string, unknown>,
  ): Promise<void> {
    const applicationId = endpoint.application.id;
    const now = this.clock.now();
    const event = { endpointId: endpoint.id, applicationId, occurredAt: now.toISOString(), ...data };
    await publishOperatorEvents(
      em,
      [{ type, applicationId, endpointId: endpoint.id, data: event }],
      this.catalog.operatorEvents ?? DEFAULT_OPERATOR_EVENTS,
      now,
    );
  }

  /**
   * Pauses the endpoint: from the commit on, the worker parks each of its deliveries whose job runs, without an
   * attempt (none is made or counted, nothing is dead-lettered), and publishes still fan out to it; attempts
   * already in flight finish. Under the endpoint's lock, which every admission takes. Pausing a paused endpoint
   * changes nothing.
   */
  async pause(id: string): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    if (endpoint.pausedAt) return endpoint;
    const before = endpointSnapshot(endpoint);
    await this.em.transactional(async (em) => {
      await lockEndpoints(em, [endpoint.id]);
      endpoint.pausedAt = this.clock.now();
      await em.flush();
      await this.audit(em, 'endpoint.paused', endpoint, before);
    });
    return endpoint;
  }

  /**
   * Resumes a paused endpoint: its parked deliveries are woken, oldest first, into its free slots (each freed slot
   * wakes the next, a FIFO group's next delivery follows its predecessor, the rate limit spaces the attempts), and
   * the time they waited is added to their `paused_ms`, so their retry policy's maximum age does not count it.
   * Returns the endpoint and how many deliveries were woken at once.
   */
  async resume(id: string): Promise<{ endpoint: EndpointEntity; woken: number }> {
    const endpoint = await this.get(id);
    const pausedAt = endpoint.pausedAt;
    if (!pausedAt) return { endpoint, woken: 0 };
    const before = endpointSnapshot(endpoint);
    let woken = 0;
    await this.em.transactional(async (em) => {
      // The endpoint's lock first, as an admission takes it before parking; deliveries in flight are left alone,
      // since their attempt's recording holds their rows and then asks for this lock.
      await lockEndpoints(em, [endpoint.id]);
      endpoint.pausedAt = null;
      await em.flush();
      await execute(
        em,
        `update deliveries d
         set paused_ms = d.paused_ms + greatest(0, floor(extract(epoch from (?::timestamptz - greatest(d.created_at, ?::timestamptz))) * 1000))::bigint
         where ${ENDPOINT_UNFINISHED} and not exists (select 1 from endpoint_inflight i where i.delivery_id = d.id)`,
        [this.clock.now(), pausedAt, endpoint.application.id, endpoint.id],
      );
      woken = await wakeParked(em, endpoint.id, this.catalog.delivery?.endpointConcurrency ?? DEFAULT_ENDPOINT_CONCURRENCY);
      await this.audit(em, 'endpoint.resumed', endpoint, before);
    });
    return { endpoint, woken };
  }

  /**
   * Cancels the endpoint's unfinished deliveries (PENDING or FAILED) created before `before` (default: now) that are
   * not in flight: each keeps its record with the status CANCELLED, its waiting job is removed, and each FIFO group
   * it belonged to goes on with its next delivery. Returns how many were cancelled.
   */
  async cancelPending(id: string, before?: Date | null): Promise<number> {
    const endpoint = await this.get(id);
    const cutoff = before ?? this.clock.now();
    if (Number.isNaN(cutoff.getTime())) throw badInput('"before" must be a date and time (ISO 8601).', { field: 'before' });
    const open = [endpoint.application.id, endpoint.id, cutoff];
    return this.em.transactional(async (em) => {
      // The groups' locks before the endpoint's, in the order a finishing attempt takes them (it frees its slot last).
      const groups = await execute<{ ordering_group: string }>(
        em,
        `select distinct ordering_group from open_deliveries
         where application_id = ? and endpoint_id = ? and created_at < ? and ordering_group is not null`,
        open,
      );
      const locked = groups.map((row) => row.ordering_group);
      await lockGroups(em, locked);
      // Under the endpoint's lock no attempt is admitted, so what is not in flight now stays so until the commit.
      await lockEndpoints(em, [endpoint.id]);
      const cancelled = await execute<{ id: string; event_id: string; ordering_group: string | null }>(
        em,
        `with cancelled as (
           update deliveries d set status = 'CANCELLED', next_attempt_at = null, last_error = ?, updated_at = now()
           where d.id = any(array(select o.delivery_id from open_deliveries o
                                  where o.application_id = ? and o.endpoint_id = ? and o.created_at < ?
                                    and (o.ordering_group is null or o.ordering_group in (select json_array_elements_text(?::json)))))
             and d.status in ('PENDING', 'FAILED') and not exists (select 1 from endpoint_inflight i where i.delivery_id = d.id)
           returning d.id, d.event_id, d.ordering_group
         ), unparked as (
           delete from parked_deliveries p where p.delivery_id in (select id from cancelled)
         )
         select id, event_id, ordering_group, graphile_worker.remove_job(? || id) is not null as had_job from cancelled`,
        ['Cancelled by cancelPendingDeliveries.', ...open, JSON.stringify(locked), DELIVER_JOB_KEY_PREFIX],
      );
      // Each group's next unfinished delivery gets its job (unless it has one or is parked): none waits behind these.
      const advanced = new Set(cancelled.flatMap((row) => (row.ordering_group ? [row.ordering_group] : [])));
      for (const group of [...advanced].sort()) await advanceGroup(em, group);
      await notify(
        em,
        cancelled.map((row) => ({
          kind: 'delivery' as const,
          deliveryId: row.id,
          eventId: row.event_id,
          endpointId: endpoint.id,
          applicationId: endpoint.application.id,
          status: DeliveryStatus.CANCELLED,
          attempt: null,
        })),
      );
      await recordAudit(em, this.scope, {
        action: 'endpoint.deliveries_cancelled',
        targetType: 'endpoint',
        targetId: endpoint.id,
        applicationId: endpoint.application.id,
        after: { createdBefore: cutoff.toISOString(), cancelled: cancelled.length },
      });
      return cancelled.length;
    });
  }

  /**
   * How many unfinished deliveries (PENDING or FAILED) wait for each endpoint, from the open deliveries by application
   * (open_deliveries_application_index): the cost follows the application's backlog.
   */
  async countPending(endpointIds: string[]): Promise<Map<string, number>> {
    const rows = await execute<{ id: string; n: number }>(
      this.em,
      `select e.id, (select count(*)::int from open_deliveries o where o.application_id = e.application_id and o.endpoint_id = e.id) as n
       from endpoints e where e.id in (select json_array_elements_text(?::json))`,
      [JSON.stringify([...new Set(endpointIds)])],
    );
    return new Map(rows.map((row) => [row.id, Number(row.n)]));
  }

  /**
   * Deletes the endpoint with its deliveries, their attempts and their own jobs (a job running now is left to finish,
   * finds its delivery gone and ends; so does a fan-out's shared job of first attempts, which may carry others). The
   * endpoint's row is locked first, so no publish adds a delivery meanwhile, then its unfinished deliveries', so no
   * attempt being recorded adds a job after they are removed.
   */
  async delete(id: string): Promise<void> {
    const endpoint = await this.get(id);
    const before = endpointSnapshot(endpoint);
    await this.em.transactional(async (em) => {
      await execute(em, 'select 1 from endpoints where id = ? for update', [id]);
      await execute(
        em,
        `with unfinished as (
           select d.id from deliveries d where ${ENDPOINT_UNFINISHED} for update of d
         )
         select count(graphile_worker.remove_job(? || id)) from unfinished`,
        [endpoint.application.id, id, DELIVER_JOB_KEY_PREFIX],
      );
      await execute(em, `delete from ordering_sequences where ordering_group = ? or starts_with(ordering_group, ? || ':')`, [id, id]);
      await execute(em, 'delete from endpoints where id = ?', [id]);
      await recordAudit(em, this.scope, {
        action: 'endpoint.deleted',
        targetType: 'endpoint',
        targetId: id,
        applicationId: endpoint.application.id,
        before,
      });
    });
  }

  /**
   * Replaces the signing secret. For `gracePeriodSeconds` (default 24 h, at most 7 days, 0 for none) the
   * old secret stays valid: every delivery carries a signature with each valid secret, so receivers can
   * switch to the new one at their own pace.
   */
  async rotateSecret(
    id: string,
    secrets: SecretBox,
    gracePeriodSeconds: number = DEFAULT_ROTATION_GRACE_SECONDS,
    now: Date = this.clock.now(),
  ): Promise<{ endpoint: EndpointEntity; secret: string }> {
    if (!Number.isInteger(gracePeriodSeconds) || gracePeriodSeconds < 0 || gracePeriodSeconds > MAX_ROTATION_GRACE_SECONDS) {
      throw badInput(`"gracePeriodSeconds" must be 0 to ${MAX_ROTATION_GRACE_SECONDS} (7 days); got ${gracePeriodSeconds}.`, {
        field: 'gracePeriodSeconds',
      });
    }
    const endpoint = await this.get(id);
    const before = endpointSnapshot(endpoint);
    const stillValid = endpoint.previousSecrets.filter((previous) => Date.parse(previous.expiresAt) > now.getTime());
    if (gracePeriodSeconds > 0) {
      stillValid.unshift({ secret: endpoint.secret, expiresAt: new Date(now.getTime() + gracePeriodSeconds * 1000).toISOString() });
    }
    const secret = generateSecret();
    endpoint.previousSecrets = stillValid.slice(0, MAX_PREVIOUS_SECRETS);
    endpoint.secret = secrets.encrypt(secret, secretContext(endpoint.id));
    await this.em.transactional(async (em) => {
      await em.flush();
      await this.audit(em, 'endpoint.secret_rotated', endpoint, before);
    });
    return { endpoint, secret };
  }

  /** The endpoint's change in the audit log, in the change's transaction (`em`): before (if any) and after. */
  private async audit(
    em: EntityManager,
    action: string,
    endpoint: EndpointEntity,
    before: Record<string, unknown> | undefined,
  ): Promise<void> {
    await recordAudit(em, this.scope, {
      action,
      targetType: 'endpoint',
      targetId: endpoint.id,
      applicationId: endpoint.application.id,
      before,
      after: endpointSnapshot(endpoint),
    });
  }

  async get(id: string): Promise<EndpointEntity> {
    const condition = applicationCondition(this.scope);
    const endpoint = condition ? await this.em.findOne(EndpointEntity, { id, ...condition }) : null;
    if (!endpoint) throw notFound('endpoint', id);
    return endpoint;
  }

  async requireEnabled(id: string): Promise<EndpointEntity> {
    const endpoint = await this.get(id);
    if (!endpoint.enabled) {
      throw new HeraldError(
        ErrorCode.ENDPOINT_DISABLED,
        `Endpoint ${id} is disabled (${endpoint.disabledReason ?? 'no reason given'}); enable it with enableEndpoint first.`,
        { id },
      );
    }
    return endpoint;
  }

  async list(filter: { applicationId?: string | null; enabled?: boolean | null }, page: PageRequest): Promise<Connection<EndpointEntity>> {
    const condition = applicationCondition(this.scope, filter.applicationId);
    if (!condition) return toConnection([], page, (row: EndpointEntity) => row);
    const where: Record<string, unknown> = { ...condition };
    if (filter.enabled != null) where.enabled = filter.enabled;
    if (page.afterId) where.id = { $lt: page.afterId };
    const rows = await this.em.find(EndpointEntity, where, { orderBy: { id: 'desc' }, limit: page.limit + 1 });
    return toConnection(rows, page, (row) => row);
  }
}

function setSigningKey(endpoint: EndpointEntity, secrets: SecretBox, enabled: boolean): void {
  if (!enabled) {
    endpoint.signingKey = null;
    endpoint.publicKey = null;
    return;
  }
  const pair = generateSigningKeyPair();
  endpoint.signingKey = secrets.encrypt(pair.signingKey, secretContext(endpoint.id));
  endpoint.publicKey = pair.publicKey;
}

/**
 * What an endpoint missed since `since`: its dead letters re-queued (the one requeue, FIFO order kept), and the
 * events of its application it has no delivery of fanned out to it alone through the one fan-out (its filters,
 * version pins and FIFO groups apply), at most REDELIVER_LIMIT of each.
 */
async function redeliverMissed(em: EntityManager, endpoint: EndpointEntity, since: Date): Promise<number> {
  const dead = await execute<{ id: string }>(
    em,
    `select delivery_id as id from dead_deliveries where endpoint_id = ? and dead_at >= ? order by delivery_id limit ?`,
    [endpoint.id, since, REDELIVER_LIMIT],
  );
  const requeued = await requeueDeliveries(
    em,
    dead.map((row) => row.id),
    { onlyDead: true },
  );
  const fanned = await fanOutMissedEvents(em, { id: endpoint.id, applicationId: endpoint.application.id }, since, REDELIVER_LIMIT);
  return requeued.length + fanned;
}
