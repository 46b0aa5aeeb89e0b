import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { createDb, type Db } from '../db/client';
import { connectClient } from '../temporal/client';
import { clientConfig } from './env';

/** What a client command needs: config, database, Temporal. */
export interface CliContext {
  config: Config;
  db: Db;
  temporal: Client;
}

/** Opens the database and Temporal clients for one command, and closes Temporal after it. */
export async function withCli<T>(fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = clientConfig();
  const db = createDb(config);
  const temporal = await connectClient(config);
  try {
    return await fn({ config, db, temporal });
  } finally {
    await temporal.connection.close();
  }
}

/** Prints `value` as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
