import type { RequestHandler } from 'express';
import { type RuruClientConfig, ruruHTML } from 'ruru/server';
import { serveStatic } from 'ruru/static';
import { pageSecurityPolicy, requestOrigins } from './security-headers';

const STATIC_PATH = '/graphiql/static/';

/**
 * The query editor's first content (GraphiQL's `defaultQuery`: a first visit, and every new tab): what to do, where
 * the key goes and where it came from, and the README tour's operations (test/e2e/graphiql-first-screen.test.ts
 * keeps them field for field the same), each ready to run.
 */
function firstScreen(options: { introspection: boolean }): string {
  const docs = options.introspection
    ? `# The Docs explorer (top icon on the left) browses the schema:
# it needs no key.`
    : `# Introspection is off on this server
# (INTROSPECTION_ENABLED=false): the Docs explorer stays empty.`;
  return `# Herald GraphiQL
#
# 1. Every operation needs an API key. In the Headers tab
#    below, paste
#      {"Authorization": "Bearer <key>"}
#    The first \`npm start\` printed an admin key once, in a
#    box. Lost it, or need another? In a terminal:
#      npx herald keys create --name <name>
#
# 2. Deliveries go to http://127.0.0.1:3000/webhooks: start
#    the README tour's receiver there, or change the url.
#
# 3. Put the cursor in an operation, press Ctrl+Enter:
#    RegisterEndpoint, WatchDeliveries (in a second tab: +),
#    PublishEvent, then Deliveries with every attempt.
#
${docs}

mutation RegisterEndpoint {
  registerEndpoint(input: {
    url: "http://127.0.0.1:3000/webhooks"
    eventTypes: ["order.*"]
  }) {
    secret
    endpoint { id url eventTypes }
  }
}

subscription WatchDeliveries {
  deliveryUpdated {
    delivery { id eventType status attemptCount }
    attempt { number responseStatus durationMs errorKind }
  }
}

mutation PublishEvent {
  publishEvent(input: {
    type: "order.created"
    data: { orderId: "ORD-123456", amount: 99.99 }
    idempotencyKey: "order-ORD-123456"
  }) {
    id
    deliveries { id status }
  }
}

query Deliveries {
  deliveries(page: { first: 5 }) {
    nodes {
      id
      eventType
      status
      attempts {
        number attemptedAt responseStatus responseBody
        durationMs errorKind errorMessage requestHeaders
      }
    }
  }
}
`;
}

/** The headers editor's first content: comments only (JSONC), so nothing is sent until a key is pasted. */
const HEADERS_TEMPLATE = `// Paste your API key below these lines, as JSON:
// {"Authorization": "Bearer <key>"}
`;

/**
 * GraphiQL (ruru) served entirely from this process: its assets come from the npm package, so it works
 * offline and loads nothing from a CDN. Subscriptions run over graphql-ws on /graphql.
 */
export function graphiqlHandlers(options: { introspection: boolean }): { page: RequestHandler; assets: RequestHandler } {
  const assets = serveStatic(STATIC_PATH);
  // defaultEditorToolsVisibility is GraphiQL's own prop (ruru passes it on): the Headers tab starts open. The casts:
  // ruru's types pick from those of ruru-components, which is bundled, not installed, so every prop reads as required.
  const clientConfig = {
    defaultQuery: firstScreen(options),
    defaultHeaders: HEADERS_TEMPLATE,
    defaultEditorToolsVisibility: 'headers',
  } as Partial<RuruClientConfig> as RuruClientConfig;
  return {
    assets: (req, res, next) => {
      if (!req.path.startsWith(STATIC_PATH)) return next();
      assets(req, res, next);
    },
    page: (req, res) => {
      const { http, ws } = requestOrigins(req);
      const html = ruruHTML({
        endpoint: `${http}/graphql`,
        subscriptionEndpoint: `${ws}/graphql`,
        staticPath: STATIC_PATH,
        clientConfig,
        htmlParts: {
          titleTag: '<title>Herald GraphiQL</title>',
          metaTags: (original) => `${original}\n<link rel="icon" type="image/x-icon" href="/favicon.ico" />`,
          bodyContent: (original) => original.replace('Ruru is loading', 'GraphiQL is loading'),
        },
      });
      res
        .set('content-security-policy', pageSecurityPolicy(req, html, { inlineStyles: 'any' }))
        .type('html')
        .send(html);
    },
  };
}
