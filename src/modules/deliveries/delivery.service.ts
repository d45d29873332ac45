import { raw } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Batcher, Rejected } from '../../lib/batcher';
import { notFound } from '../../lib/errors';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import { ALL_APPLICATIONS, type TenantScope, applicationCondition } from '../api-keys/principal';
import { EndpointService } from '../endpoints/endpoint.service';
import { DeliveryAttemptEntity } from './delivery-attempt.entity';
import { DeliveryStatus, isUnfinished } from '../../queue/delivery-status';
import { DeliveryEntity } from './delivery.entity';
import { requeueDeliveries } from '../../queue/requeue';

export interface DeliveryListFilter {
  applicationId?: string | null;
  endpointId?: string | null;
  eventId?: string | null;
  eventType?: string | null;
  status?: DeliveryStatus[] | null;
  createdAfter?: Date | null;
  createdBefore?: Date | null;
}

/**
 * No index of `deliveries` holds its status (an outcome is a HOT update): the unfinished deliveries and the dead letters
 * are listed from the tables that hold them (open_deliveries, dead_deliveries). Null when a status asked for is in
 * neither (SUCCEEDED, CANCELLED): then the list walks the deliveries, newest first, filtering.
 */
function statusSetsQuery(statuses: DeliveryStatus[], applicationId: string | null): { sql: string; params: unknown[] } | null {
  const open = statuses.filter(isUnfinished);
  const dead = statuses.includes(DeliveryStatus.DEAD);
  if (open.length + (dead ? 1 : 0) !== new Set(statuses).size) return null;
  const scope = applicationId ? ' and application_id = ?' : '';
  const parts: string[] = [];
  const params: unknown[] = [];
  if (open.length > 0) {
    parts.push(`select delivery_id from open_deliveries where status in (${open.map(() => '?').join(', ')})${scope}`);
    params.push(...open, ...(applicationId ? [applicationId] : []));
  }
  if (dead) {
    parts.push(`select delivery_id from dead_deliveries where true${scope}`);
    if (applicationId) params.push(applicationId);
  }
  return { sql: parts.join(' union all '), params };
}

export class DeliveryService {
  constructor(
    private readonly em: EntityManager,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
  ) {}

  async get(id: string): Promise<DeliveryEntity> {
    const condition = applicationCondition(this.scope);
    const delivery = condition ? await this.em.findOne(DeliveryEntity, { id, ...condition }) : null;
    if (!delivery) throw notFound('delivery', id);
    return delivery;
  }

  async list(filter: DeliveryListFilter, page: PageRequest): Promise<Connection<DeliveryEntity>> {
    const condition = applicationCondition(this.scope, filter.applicationId);
    if (!condition) return toConnection([], page, (row: DeliveryEntity) => row);
    const where: Record<string, unknown> = { ...condition };
    if (filter.endpointId) where.endpoint = filter.endpointId;
    if (filter.eventId) where.event = filter.eventId;
    if (filter.eventType) where.eventType = filter.eventType;
    if (filter.status && filter.status.length > 0) {
      where.status = { $in: filter.status };
      const inSets = statusSetsQuery(filter.status, condition.application ?? null);
      if (inSets) where[raw((alias) => `${alias}.id = any(array(${inSets.sql}))`, inSets.params)] = [];
    }
    const createdAt: Record<string, Date> = {};
    if (filter.createdAfter) createdAt.$gte = filter.createdAfter;
    if (filter.createdBefore) createdAt.$lt = filter.createdBefore;
    if (Object.keys(createdAt).length > 0) where.createdAt = createdAt;
    if (page.afterId) where.id = { $lt: page.afterId };
    const rows = await this.em.find(DeliveryEntity, where, { orderBy: { id: 'desc' }, limit: page.limit + 1 });
    return toConnection(rows, page, (row) => row);
  }

  /**
   * Queues the next attempt of a delivery now, whatever its status: a dead letter gets one more attempt
   * (it returns to DEAD if that fails), a scheduled retry runs at once, a success is sent again.
   */
  async retry(id: string): Promise<DeliveryEntity> {
    const delivery = await this.get(id);
    await new EndpointService(this.em, this.scope).requireEnabled(delivery.endpoint.id);
    await this.em.transactional(async (em) => {
      const [requeued] = await requeueDeliveries(em, [id]);
      if (!requeued) throw notFound('delivery', id);
    });
    await this.em.refresh(delivery);
    return delivery;
  }
}

/** A delivery as one change notification reported it: the row, and the attempt the change recorded. */
export interface DeliveryWithAttempt {
  delivery: DeliveryEntity;
  attempt: DeliveryAttemptEntity | null;
}

/**
 * Loads what delivery notifications refer to, for subscriptions: the loads asked for in one turn of the
 * event loop (a worker's batch of outcomes notifies together) are two queries, the deliveries and their
 * attempts. Unscoped: the subscriptions have checked what each subscriber may see.
 */
export class DeliveryReader {
  private readonly batcher: Batcher<{ deliveryId: string; attempt: number | null }, DeliveryWithAttempt>;

  constructor(newEntityManager: () => EntityManager) {
    this.batcher = new Batcher(async (changes) => {
      const em = newEntityManager();
      const deliveries = await em.find(DeliveryEntity, { id: { $in: [...new Set(changes.map((change) => change.deliveryId))] } });
      const recorded = changes.filter((change) => change.attempt);
      const attempts =
        recorded.length === 0
          ? []
          : await em.find(DeliveryAttemptEntity, {
              $or: recorded.map((change) => ({ delivery: change.deliveryId, number: change.attempt! })),
            });
      const byId = new Map(deliveries.map((delivery) => [delivery.id, delivery]));
      const attemptByKey = new Map(attempts.map((attempt) => [`${attempt.delivery.id} ${attempt.number}`, attempt]));
      return changes.map((change) => {
        const delivery = byId.get(change.deliveryId);
        if (!delivery) return new Rejected(notFound('delivery', change.deliveryId));
        return { delivery, attempt: change.attempt ? (attemptByKey.get(`${change.deliveryId} ${change.attempt}`) ?? null) : null };
      });
    });
  }

  get(change: { deliveryId: string; attempt: number | null }): Promise<DeliveryWithAttempt> {
    return this.batcher.submit(change);
  }
}
