/**
 * `npm run gen:types`: writes src/domain/database.types.ts, the `Database` type of
 * the `public` schema that supabase/migrations/ build. Uses DATABASE_URL when
 * set (migrating it first), else a throwaway local Postgres.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DATABASE_TYPES_FILE, generateDatabaseTypes } from '../src/db/database-types';
import { withMigratedDatabase } from '../src/dev/migrated-database';
import { PROJECT_ROOT } from '../src/project-root';

async function main(): Promise<void> {
  const log = (line: string) => process.stderr.write(`[gen:types] ${line}\n`);
  const text = await withMigratedDatabase(process.env, generateDatabaseTypes, log);
  const before = fs.existsSync(DATABASE_TYPES_FILE) ? fs.readFileSync(DATABASE_TYPES_FILE, 'utf8') : undefined;
  fs.writeFileSync(DATABASE_TYPES_FILE, text);
  log(`${before === text ? 'unchanged' : 'wrote'} ${path.relative(PROJECT_ROOT, DATABASE_TYPES_FILE)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`[gen:types] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
