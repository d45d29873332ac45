import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The dashboard is bundled at build time into dist/dashboard and served by Herald at / and /dashboard;
// nothing is loaded from a CDN at run time.
export default defineConfig({
  root: fileURLToPath(new URL('./src/dashboard', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
  },
});
