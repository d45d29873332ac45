import type { Request, RequestHandler } from 'express';
import { ruruHTML } from 'ruru/server';
import { serveStatic } from 'ruru/static';

const STATIC_PATH = '/graphiql/static/';

/**
 * GraphiQL (ruru) served entirely from this process: its assets come from the npm package, so it works
 * offline and loads nothing from a CDN. Subscriptions run over graphql-ws on /graphql.
 */
export function graphiqlHandlers(): { page: RequestHandler; assets: RequestHandler } {
  const assets = serveStatic(STATIC_PATH);
  return {
    assets: (req, res, next) => {
      if (!req.path.startsWith(STATIC_PATH)) return next();
      assets(req, res, next);
    },
    page: (req, res) => {
      const { http, ws } = origins(req);
      res.type('html').send(
        ruruHTML({
          endpoint: `${http}/graphql`,
          subscriptionEndpoint: `${ws}/graphql`,
          staticPath: STATIC_PATH,
          htmlParts: { titleTag: '<title>Herald GraphiQL</title>' },
        }),
      );
    },
  };
}

function origins(req: Request): { http: string; ws: string } {
  const forwarded = req.get('x-forwarded-proto')?.split(',')[0]?.trim();
  const secure = forwarded ? forwarded === 'https' : req.secure;
  const host = req.get('x-forwarded-host') ?? req.get('host') ?? 'localhost';
  return { http: `${secure ? 'https' : 'http'}://${host}`, ws: `${secure ? 'wss' : 'ws'}://${host}` };
}
