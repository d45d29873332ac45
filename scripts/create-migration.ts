// Developer tool: diffs the entities against a database migrated to the latest migration and writes the
// next migration file into migrations/. Usage: DATABASE_URL=... npm run migration:create
import 'reflect-metadata';
import { createOrm, migratorOf } from '../src/db/orm';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('Set DATABASE_URL to a scratch database.');
  const orm = await createOrm(url);
  try {
    const migrator = await migratorOf(orm);
    await migrator.up();
    const result = await migrator.createMigration('migrations', false, process.argv.includes('--initial'));
    console.log(result.fileName ? `wrote migrations/${result.fileName}` : 'no changes');
    console.log(result.code);
  } finally {
    await orm.close();
  }
}
void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
