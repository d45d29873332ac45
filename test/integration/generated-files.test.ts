import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import { codegenConfig } from '../../codegen';
import { printHeraldSchema } from '../../src/graphql/schema';

const root = path.resolve(__dirname, '../..');

describe('generated files are in sync with the code', () => {
  it('schema.graphql matches the schema type-graphql builds (run `npm run schema:emit` after an API change)', async () => {
    const committed = readFileSync(path.join(root, 'schema.graphql'), 'utf8');
    expect(await printHeraldSchema()).toBe(committed);
  });

  it('src/sdk/generated/graphql.ts matches codegen output (run `npm run codegen`)', async () => {
    const outputs = (await generate({ ...codegenConfig, cwd: root, silent: true }, false)) as Array<{ filename: string; content: string }>;
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const committed = readFileSync(path.resolve(root, output.filename), 'utf8');
      expect(output.content, `${output.filename} is stale`).toBe(committed);
    }
  });
});
