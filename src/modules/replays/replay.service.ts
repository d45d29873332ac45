import type { EntityManager } from '@mikro-orm/postgresql';
import { DEFAULT_OPERATOR_EVENTS, type OperatorEventsConfig } from '../../config';
import { addJobs, execute, notify, toDate } from '../../db/sql';
import { AttemptErrorKind } from '../../delivery/attempt-outcome';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import { badInput, notFound } from '../../lib/errors';
import { IdPrefix, newId } from '../../lib/ids';
import { ALL_APPLICATIONS, type TenantScope } from '../api-keys/principal';
import { ApplicationService } from '../applications/application.service';
import { recordAudit } from '../audit/audit.service';
import { EndpointService } from '../endpoints/endpoint.service';
import {
  type ReplayCriteria,
  type ReplayRow,
  ReplayStatus,
  matchingDeadLetters,
  publishReplayCompleted,
  replayMessage,
} from './replay-batch';
import { replayJob } from './replay-job';

export { ReplayStatus } from './replay-batch';

/** Which dead letters to replay; every part is optional and they combine with AND. */
export interface ReplayFilter {
  applicationId?: string | null;
  endpointId?: string | null;
  eventType?: string | null;
  /** Dead-lettered at or after this time (the delivery's last status change). */
  from?: Date | null;
  /** Dead-lettered before this time. */
  to?: Date | null;
  errorKind?: AttemptErrorKind | null;
}

export interface Replay {
  /** Null for a dry run: nothing is recorded. */
  id: string | null;
  applicationId: string | null;
  status: ReplayStatus;
  filter: Required<{ [K in keyof ReplayFilter]: NonNullable<ReplayFilter[K]> | null }>;
  matched: number;
  requeued: number;
  error: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/**
 * Bulk redrive of dead letters. `start` counts the matches and records the replay with the moment its set
 * is frozen; the `replay` job then re-queues them in batches (runReplayBatch), each batch one transaction that
 * also schedules the next one, paced to the configured rate. Scoped like every service: an application
 * key replays and sees only its application's dead letters and replays.
 */
export class ReplayService {
  constructor(
    private readonly em: EntityManager,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
    /** Where `herald.replay.completed` goes (the resolvers pass the configuration). */
    private readonly operatorEvents: OperatorEventsConfig = DEFAULT_OPERATOR_EVENTS,
  ) {}

  async start(filter: ReplayFilter, options: { dryRun?: boolean | null } = {}): Promise<Replay> {
    const criteria = await this.criteria(filter);
    return this.em.transactional(async (em) => {
      const [{ now } = { now: new Date() }] = await execute<{ now: string | Date }>(em, 'select now() as now');
      const where = matchingDeadLetters(criteria, now);
      const [count] = await execute<{ matched: number }>(
        em,
        `select count(*)::int as matched from ${where.from} where ${where.sql}`,
        where.params,
      );
      const matched = count?.matched ?? 0;
      if (options.dryRun) {
        const at = toDate(now);
        return toReplay({
          ...criteria,
          id: '',
          status: ReplayStatus.DRY_RUN,
          frozen_at: now,
          cursor: null,
          matched,
          requeued: 0,
          error: null,
          created_at: at,
          updated_at: at,
          finished_at: at,
        });
      }
      // Nothing to do is done at once: no job.
      const status = matched === 0 ? ReplayStatus.COMPLETED : ReplayStatus.RUNNING;
      const [row] = await execute<ReplayRow>(
        em,
        `insert into replays (id, application_id, status, endpoint_id, event_type, error_kind, dead_from, dead_to, frozen_at, matched,
                              created_at, updated_at, finished_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), now(), case when ? then now() end)
         returning *`,
        [
          newId(IdPrefix.replay),
          criteria.application_id,
          status,
          criteria.endpoint_id,
          criteria.event_type,
          criteria.error_kind,
          criteria.dead_from,
          criteria.dead_to,
          now,
          matched,
          status === ReplayStatus.COMPLETED,
        ],
      );
      if (status === ReplayStatus.RUNNING) await addJobs(em, [replayJob(row!.id)]);
      await notify(em, replayMessage(row!));
      if (status === ReplayStatus.COMPLETED) await publishReplayCompleted(em, row!, this.operatorEvents, toDate(now));
      const replay = toReplay(row!);
      await this.audit(em, 'replay.started', undefined, replay);
      return replay;
    });
  }

  async get(id: string): Promise<Replay> {
    const [row] = await execute<ReplayRow>(this.em, `select * from replays where id = ? ${this.scopeSql()}`, [id, ...this.scopeParams()]);
    if (!row) throw notFound('replay', id);
    return toReplay(row);
  }

  /** Newest first. */
  async list(page: PageRequest): Promise<Connection<Replay & { id: string }>> {
    const rows = await execute<ReplayRow>(
      this.em,
      `select * from replays where (?::text is null or id < ?) ${this.scopeSql()} order by id desc limit ?`,
      [page.afterId, page.afterId, ...this.scopeParams(), page.limit + 1],
    );
    return toConnection(rows, page, (row) => toReplay(row) as Replay & { id: string });
  }

  /** Stops a running replay after the batch in progress; what was re-queued stays queued. */
  async cancel(id: string): Promise<Replay> {
    const before = await this.get(id);
    return this.em.transactional(async (em) => {
      const [row] = await execute<ReplayRow>(
        em,
        `update replays set status = 'CANCELLED', finished_at = now(), updated_at = now()
         where id = ? and status = 'RUNNING' returning *`,
        [id],
      );
      if (!row) {
        const current = await this.get(id);
        throw badInput(`Replay ${id} is ${current.status}: only a RUNNING replay can be cancelled.`, { id });
      }
      await notify(em, replayMessage(row));
      const replay = toReplay(row);
      await this.audit(em, 'replay.cancelled', before, replay);
      return replay;
    });
  }

  /** A replay's start or cancellation in the audit log, in its transaction (`em`). */
  private async audit(em: EntityManager, action: string, before: Replay | undefined, after: Replay): Promise<void> {
    await recordAudit(em, this.scope, {
      action,
      targetType: 'replay',
      targetId: after.id!,
      applicationId: after.applicationId,
      before,
      after,
    });
  }

  /** Validates the filter within the caller's scope and resolves which application it covers. */
  private async criteria(filter: ReplayFilter): Promise<ReplayCriteria> {
    if (filter.from && filter.to && filter.from.getTime() >= filter.to.getTime()) {
      throw badInput(`"from" (${filter.from.toISOString()}) must be earlier than "to" (${filter.to.toISOString()}).`, { field: 'from' });
    }
    if (filter.errorKind != null && !Object.values(AttemptErrorKind).includes(filter.errorKind)) {
      throw badInput(`"errorKind" must be one of ${Object.values(AttemptErrorKind).join(', ')}.`, { field: 'errorKind' });
    }
    const eventType = filter.eventType?.trim() || null;
    if (eventType && eventType.length > 200) throw badInput('"eventType" is limited to 200 characters.', { field: 'eventType' });
    let applicationId = this.scope.applicationId;
    if (filter.applicationId) applicationId = (await new ApplicationService(this.em, this.scope).resolve(filter.applicationId)).id;
    let endpointId: string | null = null;
    if (filter.endpointId) {
      const endpoint = await new EndpointService(this.em, this.scope).requireEnabled(filter.endpointId);
      if (applicationId && endpoint.application.id !== applicationId) {
        throw badInput(`Endpoint ${endpoint.id} belongs to application ${endpoint.application.id}, not ${applicationId}.`, {
          field: 'endpointId',
        });
      }
      // A replay of one endpoint belongs to that endpoint's application: its keys see it.
      applicationId = endpoint.application.id;
      endpointId = endpoint.id;
    }
    return {
      application_id: applicationId,
      endpoint_id: endpointId,
      event_type: eventType,
      error_kind: filter.errorKind ?? null,
      dead_from: filter.from ?? null,
      dead_to: filter.to ?? null,
    };
  }

  private scopeSql(): string {
    return this.scope.applicationId === null ? '' : 'and application_id = ?';
  }

  private scopeParams(): unknown[] {
    return this.scope.applicationId === null ? [] : [this.scope.applicationId];
  }
}

function toReplay(row: ReplayRow): Replay {
  const date = (value: string | Date | null) => (value === null ? null : toDate(value));
  return {
    id: row.id || null,
    applicationId: row.application_id,
    status: row.status,
    filter: {
      applicationId: row.application_id,
      endpointId: row.endpoint_id,
      eventType: row.event_type,
      errorKind: row.error_kind,
      from: date(row.dead_from),
      to: date(row.dead_to),
    },
    matched: row.matched,
    requeued: row.requeued,
    error: row.error,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    finishedAt: date(row.finished_at),
  };
}
