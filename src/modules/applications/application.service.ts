import type { EntityManager } from '@mikro-orm/postgresql';
import { badInput, notFound } from '../../lib/errors';
import { type Connection, type PageRequest, toConnection } from '../../graphql/pagination';
import { ApplicationEntity, DEFAULT_APPLICATION_ID } from './application.entity';

export class ApplicationService {
  constructor(private readonly em: EntityManager) {}

  async create(input: { name: string; metadata?: Record<string, unknown> | null }): Promise<ApplicationEntity> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > 200) throw badInput('An application name must be 1 to 200 characters.', { field: 'name' });
    const application = this.em.create(ApplicationEntity, { name, metadata: input.metadata ?? null });
    await this.em.flush();
    return application;
  }

  async list(page: PageRequest): Promise<Connection<ApplicationEntity>> {
    const rows = await this.em.find(ApplicationEntity, page.afterId ? { id: { $lt: page.afterId } } : {}, {
      orderBy: { id: 'desc' },
      limit: page.limit + 1,
    });
    return toConnection(rows, page, (row) => row);
  }

  /** The application with this id, or the default one when no id is given; NOT_FOUND otherwise. */
  async resolve(id: string | null | undefined): Promise<ApplicationEntity> {
    const applicationId = id ?? DEFAULT_APPLICATION_ID;
    const application = await this.em.findOne(ApplicationEntity, { id: applicationId });
    if (!application) throw notFound('application', applicationId);
    return application;
  }
}
