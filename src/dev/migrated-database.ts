import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { DEFAULTS } from '../config';
import { migrate } from '../db/migrate';
import { bootstrapLocalRoles } from './bootstrap';
import { dataDirPath } from './paths';
import { startEmbeddedPostgres } from './postgres';

/**
 * Runs `fn` with the URL of a database that has every migration of
 * `supabase/migrations/` applied. With `DATABASE_URL` set, that database is
 * migrated and used; otherwise a throwaway embedded Postgres is started in
 * `<data dir>/scratch-db` (fresh, so nothing but the migrations is in it) on
 * a free port, prepared as `bulkgen dev` prepares its own, and stopped and
 * removed when `fn` settles.
 */
export async function withMigratedDatabase<T>(
  env: NodeJS.ProcessEnv,
  fn: (databaseUrl: string) => Promise<T>,
  log: (line: string) => void = () => {},
): Promise<T> {
  if (env.DATABASE_URL) {
    log('using DATABASE_URL');
    await migrate(env.DATABASE_URL);
    return fn(env.DATABASE_URL);
  }
  const dataDir = path.join(dataDirPath(env.BULKGEN_DATA_DIR ?? DEFAULTS.dataDir), 'scratch-db');
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  log(`starting a scratch Postgres on 127.0.0.1:${port}`);
  const pg = await startEmbeddedPostgres({ dataDir, port, logFile: path.join(dataDir, 'postgres.log') });
  try {
    await bootstrapLocalRoles(pg.url);
    await migrate(pg.url);
    return await fn(pg.url);
  } finally {
    await pg.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A TCP port nothing listens on right now (the kernel picks it). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
