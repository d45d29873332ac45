import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

const DATABASE_SETUP = ['test/helpers/global-setup.ts'];

export default defineConfig({
  resolve: {
    // Herald runs as CommonJS: make tests load graphql's CommonJS build too, or type-graphql (CJS) and
    // our sources (otherwise resolved to graphql's .mjs) would hold two different graphql instances.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: process.env.CI_JSON_REPORT ? ['default', ['json', { outputFile: process.env.CI_JSON_REPORT }]] : ['default'],
    // `npm run test:<name>` runs one; `npm test` builds dist/ (the e2e tests spawn it) and runs all three.
    projects: [
      {
        extends: true,
        // Pure code: no database, no build, no process. Threads start faster than forked processes, and the files share
        // a thread's loaded modules (not isolated): importing src/ again for every file took most of the run. A unit test
        // must therefore leave no global state behind (fake timers restored, no vi.mock of a shared module).
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/bench/bench-stats.test.ts'], pool: 'threads', isolate: false },
      },
      {
        extends: true,
        // Herald in-process (test/helpers/herald.ts) on a real PostgreSQL; nothing spawned, nothing built.
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], globalSetup: DATABASE_SETUP },
      },
      {
        extends: true,
        // Real processes from dist/, the browser, and the pages of the built dashboard: `npm run build` first.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts', 'test/bench/bench-smoke.test.ts'],
          globalSetup: DATABASE_SETUP,
        },
      },
    ],
  },
});
