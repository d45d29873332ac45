import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Express } from 'express';

/** dist/dashboard, seen from the compiled file (dist/src/observability) or from the source (src/observability). */
function dashboardDirectory(): string | null {
  const candidates = [path.resolve(__dirname, '../../dashboard'), path.resolve(__dirname, '../../dist/dashboard')];
  return candidates.find((candidate) => existsSync(path.join(candidate, 'index.html'))) ?? null;
}

/**
 * The live dashboard, built by Vite into dist/dashboard (`npm run build`), served at / and /dashboard
 * with its assets under /dashboard/.
 */
export function mountDashboard(app: Express): void {
  const directory = dashboardDirectory();
  const page: express.RequestHandler = (_req, res) => {
    if (!directory) {
      res
        .status(503)
        .type('text/plain')
        .send('The dashboard is not built: run `npm run build` (it bundles src/dashboard into dist/dashboard).\n');
      return;
    }
    res.set('cache-control', 'no-cache').sendFile(path.join(directory, 'index.html'));
  };
  app.get(['/', '/dashboard', '/dashboard/'], page);
  if (directory) app.use('/dashboard', express.static(directory, { index: false, immutable: true, maxAge: '1y' }));
}
