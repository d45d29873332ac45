import type { MikroORM } from '@mikro-orm/postgresql';
import express from 'express';
import type { HeraldConfig } from '../config';
import { HeraldError } from '../lib/errors';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnavailable, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import type { SecretBox } from '../lib/encryption';
import type { Logger } from '../lib/logger';
import { renderCatalogPage } from '../modules/catalog/catalog.page';
import { CatalogService } from '../modules/catalog/catalog.service';
import { SourceService } from '../modules/sources/source.service';

/** Plain HTTP routes beside the GraphQL API: the catalog page and the inbound webhook receiver. */
export function mountHttpRoutes(
  app: express.Express,
  deps: { orm: MikroORM; config: HeraldConfig; logger: Logger; secrets: SecretBox },
): void {
  const { orm, config, logger, secrets } = deps;

  app.get('/docs/events', (_req, res, next) => {
    new CatalogService(orm.em.fork(), config)
      .list()
      .then((entries) => {
        res.type('html').send(renderCatalogPage(entries, { strict: config.catalogStrict }));
      })
      .catch(next);
  });

  // The raw bytes are what the sender signed, so no JSON parser may run before verification.
  app.post('/ingest/:sourceId', express.raw({ type: () => true, limit: config.maxPayloadBytes }), (req, res, next) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    new SourceService(orm.em.fork(), config, secrets)
      .ingest(req.params.sourceId, body, req.headers)
      .then((result) => {
        switch (result.status) {
          case 'unknown_source':
            res.status(404).json({ error: 'NOT_FOUND', message: `No source with id "${req.params.sourceId}" exists.` });
            return;
          case 'bad_signature':
            logger.warn({ sourceId: req.params.sourceId }, 'inbound webhook refused: bad signature');
            res.status(401).json({ error: 'INVALID_SIGNATURE', message: result.message });
            return;
          case 'no_event_type':
            res.status(422).json({ error: 'BAD_USER_INPUT', message: result.message });
            return;
          case 'accepted':
            res.status(202).json({ eventId: result.eventId, inboundRequestId: result.inboundRequestId, duplicate: result.deduplicated });
        }
      })
      .catch((error: unknown) => {
        if (error instanceof HeraldError) {
          res.status(error.code === 'PAYLOAD_TOO_LARGE' ? 413 : 422).json({ error: error.code, message: error.message });
          return;
        }
        if (isDatabaseOutage(error) && !res.headersSent) {
          // Senders retry a 503 after Retry-After; the request and its event are stored in one transaction or not at all.
          logDatabaseUnavailable(logger, error, { sourceId: req.params.sourceId });
          const unavailable = databaseUnavailable();
          res
            .status(503)
            .set('retry-after', String(DATABASE_RETRY_AFTER_SECONDS))
            .json({ error: unavailable.code, message: unavailable.message });
          return;
        }
        next(error);
      });
  });
}
