import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import type { Config } from '../config';
import type { Database } from '../domain/rows';
import { BulkgenError } from '../errors';

/**
 * The supabase-js client the repositories use (service role: the only writer),
 * typed by the `Database` that `npm run gen:types` generates from the migrations
 * (narrowed in `src/domain/rows.ts`).
 */
export type Db = SupabaseClient<Database>;

/**
 * Creates a service-role supabase-js client. On Node 20 realtime needs the
 * `ws` transport; sessions are never persisted (this is a server).
 */
export function createDb(config: Pick<Config, 'SUPABASE_URL' | 'SUPABASE_SERVICE_ROLE_KEY'>): Db {
  if (!config.SUPABASE_URL || !config.SUPABASE_SERVICE_ROLE_KEY) {
    throw new BulkgenError('CONFIG_INVALID', {
      detail: 'SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY: required (or run `bulkgen dev`, which writes .bulkgen/dev.env)',
    });
  }
  return createClient<Database>(config.SUPABASE_URL, config.SUPABASE_SERVICE_ROLE_KEY, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket as never },
  });
}
