import fs from 'node:fs';
import path from 'node:path';

/** What `.bulkgen/dev.env` holds: how other commands, tests and tools reach the local stack. */
export interface DevEnv {
  DATABASE_URL: string;
  SUPABASE_URL: string;
  SUPABASE_SERVICE_ROLE_KEY: string;
  SUPABASE_ANON_KEY: string;
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  TEMPORAL_UI_URL: string;
  API_URL: string;
  API_KEY: string;
}

/** Writes `dev.env` (dotenv format) into the data folder and returns its path. */
export function writeDevEnv(dataDir: string, env: DevEnv): string {
  const file = path.join(dataDir, 'dev.env');
  const body = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  fs.writeFileSync(file, `# written by bulkgen dev; read by the CLI, tests and tools\n${body}\n`, { mode: 0o600 });
  return file;
}

/** Parses a dotenv file into key/value pairs (no interpolation). */
export function readDotenv(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (m?.[1]) out[m[1]] = (m[2] ?? '').replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * Loads `<dataDir>/dev.env` into `env` when present, never overriding a
 * variable that is already set, so an explicit environment always wins.
 */
export function loadDevEnv(dataDir: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = path.join(dataDir, 'dev.env');
  if (!fs.existsSync(file)) return false;
  for (const [k, v] of Object.entries(readDotenv(file))) {
    if (env[k] === undefined && v !== '') env[k] = v;
  }
  return true;
}
