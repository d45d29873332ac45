import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { MikroORM } from '@mikro-orm/postgresql';
import express from 'express';
import type { HeraldConfig } from '../config';
import { ErrorCode, HeraldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { PortalService } from '../modules/portal/portal.service';
import { dashboardDirectory } from '../observability/dashboard';
import { databaseUnavailable, isDatabaseOutage, logDatabaseUnavailable } from './errors';
import { pageSecurityPolicy } from './security-headers';

/**
 * The customer portal: its page at /portal (built by Vite beside the dashboard, src/dashboard/portal.html), framable
 * only by PORTAL_FRAME_ANCESTORS, and POST /portal/session, which trades the link's one-time token for the session
 * credential the page keeps in memory and sends as a bearer to /graphql. A bearer rather than a cookie: in a
 * cross-site iframe a cookie would need SameSite=None and is blocked outright by browsers that refuse third-party
 * cookies.
 */
export function mountPortal(app: express.Express, deps: { orm: MikroORM; config: HeraldConfig; logger: Logger }): void {
  const { orm, config, logger } = deps;
  const directory = dashboardDirectory();

  app.get(['/portal', '/portal/'], (req, res, next) => {
    if (!directory) {
      res
        .status(503)
        .type('text/plain')
        .send('The portal is not built: run `npm run build` (it bundles src/dashboard into dist/dashboard).\n');
      return;
    }
    const file = path.join(directory, 'portal.html');
    readFile(file, 'utf8')
      .then((html) => {
        const frameAncestors = config.portal.frameAncestors;
        // The server sets X-Frame-Options: DENY on everything; here CSP frame-ancestors decides instead.
        if (frameAncestors.length > 0) res.removeHeader('x-frame-options');
        res
          .set('cache-control', 'no-cache')
          .set('content-security-policy', pageSecurityPolicy(req, html, { frameAncestors, images: ['https:'] }))
          .type('html')
          .send(html);
      })
      .catch(next);
  });

  app.post('/portal/session', express.json({ limit: 4096 }), (req, res) => {
    res.set('cache-control', 'no-store');
    new PortalService(orm.em.fork())
      .exchange((req.body as { token?: unknown } | undefined)?.token)
      .then(({ session, credential }) => {
        res.json({
          credential,
          session: {
            id: session.id,
            applicationId: session.applicationId,
            capabilities: session.capabilities,
            theme: session.theme,
            expiresAt: session.expiresAt.toISOString(),
          },
        });
      })
      .catch((error: unknown) => {
        if (error instanceof HeraldError) {
          res.status(401).json({ error: error.code, message: error.message });
        } else if (isDatabaseOutage(error)) {
          logDatabaseUnavailable(logger, error, { route: '/portal/session' });
          const refusal = databaseUnavailable();
          res.status(503).json({ error: refusal.code, message: refusal.message });
        } else {
          logger.error({ err: error }, 'portal session exchange failed');
          res.status(500).json({ error: ErrorCode.INTERNAL_SERVER_ERROR, message: 'Internal server error.' });
        }
      });
  });
}
