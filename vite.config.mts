import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { type Plugin, build, defineConfig } from 'vite';

/**
 * Puts into the page what its first paint needs, so it waits for no other request: first-paint.ts,
 * bundled into one classic script at the end of <body> (it sends the first requests and shows the first
 * numbers before the module scripts have loaded), and the style sheet, inlined in place of its <link>.
 */
function inlineFirstPaint(): Plugin {
  return {
    name: 'herald-inline-first-paint',
    apply: 'build',
    transformIndexHtml: {
      order: 'post',
      async handler(html, context) {
        const entry = fileURLToPath(new URL('./src/dashboard/first-paint.ts', import.meta.url));
        const built = await build({
          configFile: false,
          logLevel: 'warn',
          build: { write: false, minify: true, lib: { entry, formats: ['iife'], name: 'heraldFirstPaint' } },
        });
        const outputs = (Array.isArray(built) ? built : [built]).flatMap((result) => ('output' in result ? result.output : []));
        const script = outputs.find((output) => output.type === 'chunk')?.code;
        if (!script) throw new Error(`building ${entry} gave no script`);
        let page = html.replace('</body>', () => `<script>${inHtml(script)}</script>\n</body>`);
        const link = /<link rel="stylesheet" crossorigin href="\/dashboard\/([\w./-]+\.css)">/.exec(page);
        if (!link?.[1]) throw new Error('the dashboard page links no style sheet to inline');
        const sheet = context.bundle?.[link[1]];
        if (sheet?.type !== 'asset') throw new Error(`the style sheet ${link[1]} is not in the bundle`);
        delete context.bundle?.[link[1]];
        page = page.replace(link[0], () => `<style>${inHtml(String(sheet.source))}</style>`);
        return page;
      },
    },
  };
}

/** Text inside a <script> or <style> element: nothing in it may end the element early. */
function inHtml(text: string): string {
  return text.replace(/<\/(script|style)/gi, '<\\/$1');
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

/**
 * The customer portal's page (portal.html, served at /portal by src/graphql/portal-routes.ts), built after the
 * dashboard into the same folder by a build of its own: one multi-page build shared a runtime chunk between the
 * two, an extra request on the dashboard's first load.
 */
function buildPortal(): Plugin {
  return {
    name: 'herald-build-portal',
    apply: 'build',
    async closeBundle() {
      await build({
        configFile: false,
        root: fileURLToPath(new URL('./src/dashboard', import.meta.url)),
        base: '/dashboard/',
        logLevel: 'warn',
        plugins: [precompress()],
        build: {
          outDir: fileURLToPath(new URL('./dist/dashboard', import.meta.url)),
          emptyOutDir: false,
          sourcemap: true,
          modulePreload: { polyfill: false },
          rollupOptions: { input: fileURLToPath(new URL('./src/dashboard/portal.html', import.meta.url)) },
        },
      });
    },
  };
}

// The dashboard is bundled at build time into dist/dashboard and served by Herald at / and /dashboard;
// nothing is loaded from a CDN at run time.
export default defineConfig({
  root: fileURLToPath(new URL('./src/dashboard', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  plugins: [inlineFirstPaint(), precompress(), buildPortal()],
  build: {
    outDir: fileURLToPath(new URL('./dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    // Every browser the dashboard supports knows modulepreload: no polyfill in the first script.
    modulePreload: { polyfill: false },
  },
});
