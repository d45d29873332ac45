import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { type Plugin, defineConfig, runnerImport } from 'vite';

/**
 * Fills in the inline script at the top of index.html that sends the first requests before any bundle
 * has loaded: the same query texts boot.ts would send, and the window the page preselects.
 */
function firstLoadQueries(): Plugin {
  return {
    name: 'herald-first-load-queries',
    async transformIndexHtml(html) {
      const queries = fileURLToPath(new URL('./src/dashboard/queries.ts', import.meta.url));
      const { module } = await runnerImport<Record<string, unknown>>(queries);
      const texts = { applications: module.APPLICATIONS, metrics: module.METRICS, endpoints: module.ENDPOINTS };
      if (Object.values(texts).some((text) => typeof text !== 'string')) throw new Error(`${queries} lacks a query the first load needs`);
      const preselected = /<option value="(\w+)" selected>/.exec(html)?.[1];
      if (!preselected) throw new Error('index.html preselects no metrics window');
      const first = JSON.stringify({ window: preselected, ...texts });
      // Inside a <script> element: no "</script>" may appear in what is filled in.
      return html.replace('__HERALD_FIRST_LOAD__', first.replace(/</g, '\\u003c'));
    },
  };
}

/**
 * Brotli and gzip copies of every script and style sheet, made once at build time at the highest
 * levels; Herald sends the one the browser accepts (src/observability/dashboard.ts).
 */
function precompress(): Plugin {
  return {
    name: 'herald-precompress',
    apply: 'build',
    enforce: 'post',
    // From the files as written: earlier hooks still see code that Vite rewrites afterwards.
    async writeBundle(options, bundle) {
      const directory = options.dir ?? '.';
      for (const fileName of Object.keys(bundle).filter((name) => /\.(?:js|css)$/.test(name))) {
        const file = path.join(directory, fileName);
        const source = await readFile(file);
        const brotli = brotliCompressSync(source, { params: { [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY } });
        await writeFile(`${file}.br`, brotli);
        await writeFile(`${file}.gz`, gzipSync(source, { level: 9 }));
      }
    },
  };
}

// The dashboard is bundled at build time into dist/dashboard and served by Herald at / and /dashboard;
// nothing is loaded from a CDN at run time.
export default defineConfig({
  root: fileURLToPath(new URL('./src/dashboard', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  plugins: [firstLoadQueries(), precompress()],
  build: {
    outDir: fileURLToPath(new URL('./dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    // Every browser the dashboard supports knows modulepreload: no polyfill in the first script.
    modulePreload: { polyfill: false },
  },
});
