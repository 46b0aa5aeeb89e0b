import type { Command } from 'commander';
import { checkSchema } from '../../db/doctor';
import { migrate } from '../../db/migrate';
import { BulkgenError } from '../../errors';
import { clientConfig, info } from '../env';

function databaseUrl(): string {
  const url = clientConfig().DATABASE_URL;
  if (!url)
    throw new BulkgenError('CONFIG_INVALID', { detail: 'DATABASE_URL: required (or run `bulkgen dev`, which writes .bulkgen/dev.env)' });
  return url;
}

/** `bulkgen migrate` and `bulkgen doctor`. */
export function registerSchemaCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply pending migrations from supabase/migrations with the Supabase CLI')
    .action(async () => {
      const result = await migrate(databaseUrl());
      info(result.applied.length > 0 ? `applied: ${result.applied.join(', ')}` : 'nothing to apply: the database is up to date');
    });
  program
    .command('doctor')
    .description('compare the live database with what the code needs; exit 1 naming each mismatch')
    .option('--json', 'print the mismatches as JSON')
    .action(async (opts: { json?: boolean }) => {
      const mismatches = await checkSchema(databaseUrl());
      if (opts.json) process.stdout.write(`${JSON.stringify({ ok: mismatches.length === 0, mismatches }, null, 2)}\n`);
      else if (mismatches.length === 0) info('doctor: the database matches the code');
      else for (const m of mismatches) process.stdout.write(`${m.message}\n`);
      if (mismatches.length > 0) process.exitCode = 1;
    });
}
