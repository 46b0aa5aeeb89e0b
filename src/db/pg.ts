import pg from 'pg';

/**
 * Runs `fn` with a direct Postgres connection (for migrate, doctor and the
 * local stack's bootstrap; the product's data path goes through supabase-js).
 */
export async function withPg<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
