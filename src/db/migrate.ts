import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BulkgenError } from '../errors';
import { PROJECT_ROOT } from '../project-root';
import { withPg } from './pg';

const run = promisify(execFile);

/** Session-level advisory lock key: two `bulkgen migrate` at once apply each migration once. */
const MIGRATION_LOCK_KEY = 0x62756c6b; // 'bulk'

/** What `supabase migration up` did. */
export interface MigrateResult {
  applied: string[];
  output: string;
}

/** The Supabase CLI wants `sslmode=disable` for a server without TLS (the local one). */
function withSslModeDisabled(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const host = url.hostname;
  if (!url.searchParams.has('sslmode') && (host === '127.0.0.1' || host === 'localhost' || host === '::1')) {
    url.searchParams.set('sslmode', 'disable');
  }
  return url.toString();
}

/**
 * Applies pending migrations from `supabase/migrations/` with the Supabase CLI,
 * so the history lands in `supabase_migrations.schema_migrations`, where
 * `supabase db push` expects it. A no-op when nothing is pending; concurrent
 * runs serialise on a Postgres advisory lock.
 */
export async function migrate(databaseUrl: string): Promise<MigrateResult> {
  const supabaseBin = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'supabase');
  return withPg(databaseUrl, async (client) => {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const { stdout, stderr } = await run(
        supabaseBin,
        ['migration', 'up', '--db-url', withSslModeDisabled(databaseUrl), '--workdir', PROJECT_ROOT],
        { cwd: PROJECT_ROOT, env: { ...process.env, SUPABASE_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' }, timeout: 300_000 },
      );
      const output = `${stdout}${stderr}`;
      const applied = [...output.matchAll(/Applying migration (\S+)\.\.\./g)].map((m) => m[1] ?? '');
      // PostgREST caches the schema; tell it to reload after a change.
      if (applied.length > 0) await client.query("notify pgrst, 'reload schema'");
      return { applied, output };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new BulkgenError('MIGRATION_FAILED', { detail: `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message }, undefined, {
        cause: err,
      });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  });
}
