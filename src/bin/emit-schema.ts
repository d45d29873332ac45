#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { printHeraldSchema } from '../graphql/schema';

/** Writes schema.graphql from the resolvers; with --check, fails when the committed file differs. */
async function main(): Promise<number> {
  const file = path.resolve(__dirname, '../../../schema.graphql');
  const sdl = await printHeraldSchema();
  if (process.argv.includes('--check')) {
    const committed = readFileSync(file, 'utf8');
    if (committed !== sdl) {
      console.error('schema.graphql is out of date with the resolvers: run `npm run schema:emit` and commit it.');
      return 1;
    }
    console.log('schema.graphql is up to date');
    return 0;
  }
  writeFileSync(file, sdl);
  console.log(`wrote ${path.relative(process.cwd(), file)}`);
  return 0;
}
void main().then((code) => (process.exitCode = code));
