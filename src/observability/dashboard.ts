import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import express, { type Express } from 'express';
import { pageSecurityPolicy } from '../graphql/security-headers';

/** dist/dashboard, seen from the compiled file (dist/src/observability) or from the source (src/observability). */
export function dashboardDirectory(): string | null {
  const candidates = [path.resolve(__dirname, '../../dashboard'), path.resolve(__dirname, '../../dist/dashboard')];
  return candidates.find((candidate) => existsSync(path.join(candidate, 'index.html'))) ?? null;
}

/** Assets are named by their content's hash: a browser may keep them for good. */
const ASSET_CACHE = { maxAge: '1y', immutable: true } as const;

/**
 * The live dashboard, built by Vite into dist/dashboard (`npm run build`), served at / and /dashboard
 * with its assets under /dashboard/.
 */
export function mountDashboard(app: Express): void {
  const directory = dashboardDirectory();
  const page: express.RequestHandler = (req, res, next) => {
    if (!directory) {
      res
        .status(503)
        .type('text/plain')
        .send('The dashboard is not built: run `npm run build` (it bundles src/dashboard into dist/dashboard).\n');
      return;
    }
    // The policy allows the page's inlined first-paint script and style sheet by their hashes, read from the file as built.
    const file = path.join(directory, 'index.html');
    readFile(file, 'utf8')
      .then((html) => res.set('cache-control', 'no-cache').set('content-security-policy', pageSecurityPolicy(req, html)).sendFile(file))
      .catch(next);
  };
  // index.html by its name too: never served without its policy.
  app.get(['/', '/dashboard', '/dashboard/', '/dashboard/index.html'], page);
  if (!directory) return;
  app.use('/dashboard/assets', precompressed(path.join(directory, 'assets')));
  app.use('/dashboard', express.static(directory, { index: false, ...ASSET_CACHE }));
}

const ENCODINGS = [
  { name: 'br', suffix: '.br' },
  { name: 'gzip', suffix: '.gz' },
] as const;

/**
 * Sends the brotli or gzip copy the build made of a script or style sheet (vite.config.mts) when the
 * browser accepts it; anything else falls through to the plain files. Only names the build wrote are
 * looked up, so nothing in a request's path reaches the file system.
 */
function precompressed(directory: string): express.RequestHandler {
  const files = new Set(readdirSync(directory));
  return (req, res, next) => {
    const name = req.path.slice(1);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !/\.(?:js|css)$/.test(name) || !files.has(name)) return next();
    res.vary('Accept-Encoding');
    // The smallest the browser takes, whatever order it lists them in.
    const encoding = ENCODINGS.find(
      (candidate) => req.acceptsEncodings(candidate.name) === candidate.name && files.has(name + candidate.suffix),
    );
    if (!encoding) return next();
    res.set('content-encoding', encoding.name).type(path.extname(name));
    res.sendFile(path.join(directory, name + encoding.suffix), ASSET_CACHE, (error) => {
      if (error && !res.headersSent) next(error);
    });
  };
}
