import type { MikroORM } from '@mikro-orm/postgresql';
import express from 'express';
import type { HeraldConfig } from '../config';
import { HeraldError } from '../lib/errors';
import { DATABASE_RETRY_AFTER_SECONDS, databaseUnavailable, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import type { SecretBox } from '../lib/encryption';
import type { Logger } from '../lib/logger';
import { renderCatalogPage } from '../modules/catalog/catalog.page';
import { pageSecurityPolicy } from './security-headers';
import { CatalogService } from '../modules/catalog/catalog.service';
import { SourceService } from '../modules/sources/source.service';

/** Plain HTTP routes beside the GraphQL API: the favicon, the catalog page and the inbound webhook receiver. */
export function mountHttpRoutes(
  app: express.Express,
  deps: { orm: MikroORM; config: HeraldConfig; logger: Logger; secrets: SecretBox },
): void {
  const { orm, config, logger, secrets } = deps;

  app.get('/favicon.ico', (_req, res) => {
    res.set('cache-control', 'public, max-age=86400').type('image/x-icon').send(FAVICON);
  });

  app.get('/docs/events', (req, res, next) => {
    new CatalogService(orm.em.fork(), config)
      .list()
      .then((entries) => {
        const page = renderCatalogPage(entries, { strict: config.catalogStrict });
        res.set('content-security-policy', pageSecurityPolicy(req, page)).type('html').send(page);
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

/** Herald's icon, made here (no file, no CDN): a 16×16 32-bit ICO, the dashboard's brand mark (a white "H" on its indigo, #4f46e5). */
const FAVICON = ((): Buffer => {
  const size = 16;
  const pixels = Buffer.alloc(size * size * 4);
  for (let row = 0; row < size; row += 1) {
    for (let column = 0; column < size; column += 1) {
      const corner = (row === 0 || row === size - 1) && (column === 0 || column === size - 1);
      const stem = (column === 4 || column === 5 || column === 10 || column === 11) && row >= 3 && row <= 12;
      const bar = (row === 7 || row === 8) && column >= 4 && column <= 11;
      // BGRA, bottom row first.
      const colour = corner ? [0, 0, 0, 0] : stem || bar ? [255, 255, 255, 255] : [0xe5, 0x46, 0x4f, 255];
      Buffer.from(colour).copy(pixels, ((size - 1 - row) * size + column) * 4);
    }
  }
  const mask = Buffer.alloc(size * 4); // 1 bit a pixel, rows padded to 32 bits: all zero (the alpha channel rules)
  const header = Buffer.alloc(6 + 16 + 40);
  header.writeUInt16LE(1, 2); // an icon
  header.writeUInt16LE(1, 4); // one image
  header.writeUInt8(size, 6);
  header.writeUInt8(size, 7);
  header.writeUInt16LE(1, 10); // colour planes
  header.writeUInt16LE(32, 12); // bits a pixel
  header.writeUInt32LE(40 + pixels.length + mask.length, 14);
  header.writeUInt32LE(22, 18); // where the image starts
  header.writeUInt32LE(40, 22); // BITMAPINFOHEADER
  header.writeInt32LE(size, 26);
  header.writeInt32LE(size * 2, 30); // colours and mask
  header.writeUInt16LE(1, 34);
  header.writeUInt16LE(32, 36);
  header.writeUInt32LE(pixels.length + mask.length, 42);
  return Buffer.concat([header, pixels, mask]);
})();
