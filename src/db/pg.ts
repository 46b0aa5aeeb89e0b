import pg from 'pg';
import { BulkgenError } from '../errors';

/**
 * Runs `fn` with a direct Postgres connection (for migrate, doctor and the
 * local stack's bootstrap; the product's data path goes through supabase-js).
 */
export async function withPg<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
  } catch (err) {
    throw new BulkgenError('DATABASE_UNAVAILABLE', { detail: (err as Error).message }, undefined, { cause: err });
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
