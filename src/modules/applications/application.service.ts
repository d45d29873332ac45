import type { EntityManager } from '@mikro-orm/postgresql';
import { badInput, notFound } from '../../lib/errors';
import { type Connection, type PageRequest, toConnection } from '../../lib/pagination';
import { ALL_APPLICATIONS, type TenantScope } from '../api-keys/principal';
import { applicationSnapshot, recordAudit } from '../audit/audit.service';
import { ApplicationEntity, DEFAULT_APPLICATION_ID } from './application.entity';

export class ApplicationService {
  constructor(
    private readonly em: EntityManager,
    private readonly scope: TenantScope = ALL_APPLICATIONS,
  ) {}

  async create(input: { name: string; metadata?: Record<string, unknown> | null }): Promise<ApplicationEntity> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw badInput('An application name must be 1 to 200 characters.', { field: 'name' });
    const application = this.em.create(ApplicationEntity, { name, metadata: input.metadata ?? null });
    await this.em.transactional(async (em) => {
      // A transaction's fork carries the loaded entities, not the ones waiting to be inserted.
      em.persist(application);
      await em.flush();
      await recordAudit(em, this.scope, {
        action: 'application.created',
        targetType: 'application',
        targetId: application.id,
        applicationId: application.id,
        after: applicationSnapshot(application),
      });
    });
    return application;
  }

  async list(page: PageRequest): Promise<Connection<ApplicationEntity>> {
    const where: Record<string, unknown> = {};
    if (page.afterId) where.id = { $lt: page.afterId };
    if (this.scope.applicationId) where.$and = [{ id: this.scope.applicationId }];
    const rows = await this.em.find(ApplicationEntity, where, {
      orderBy: { id: 'desc' },
      limit: page.limit + 1,
    });
    return toConnection(rows, page, (row) => row);
  }

  /**
   * The application with this id, or when no id is given the scope's (an application key's) or the
   * default one; NOT_FOUND otherwise, also for an application outside the scope.
   */
  async resolve(id: string | null | undefined): Promise<ApplicationEntity> {
    const applicationId = id ?? this.scope.applicationId ?? DEFAULT_APPLICATION_ID;
    if (this.scope.applicationId && applicationId !== this.scope.applicationId) throw notFound('application', applicationId);
    const application = await this.em.findOne(ApplicationEntity, { id: applicationId });
    if (!application) throw notFound('application', applicationId);
    return application;
  }
}
