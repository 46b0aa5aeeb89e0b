import { randomUUID } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client';
import { fromPostgrestError, unwrap } from '../../src/db/errors';
import { updateJob } from '../../src/db/jobs';
import type { JobStatus } from '../../src/domain/enums';
import { BulkgenError } from '../../src/errors';
import { stackEnv, testDb } from '../helpers/env';

// The product's data path, end to end: supabase-js -> the Supabase-style gateway -> PostgREST ->
// Postgres, with the roles a hosted project has. The service role writes; the anon key can do
// nothing; a request without a key never reaches PostgREST.

const TAG = `gateway-test-${randomUUID().slice(0, 8)}`;
const SEEN_TABLES = ['batch_jobs', 'batch_items', 'conversations'] as const;

/** An anon-key client, built exactly like src/db/client.ts builds the service-role one. */
function anonClient(): SupabaseClient {
  const env = stackEnv();
  return createClient(env.SUPABASE_URL!, env.SUPABASE_ANON_KEY!, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: WebSocket as never },
  });
}

async function countRows(db: Db, table: (typeof SEEN_TABLES)[number]): Promise<number> {
  const { count, error } = await db.from(table).select('*', { count: 'exact', head: true });
  if (error) throw fromPostgrestError(table, error);
  return count ?? 0;
}

describe('the gateway and PostgREST, through supabase-js', () => {
  let db: Db;
  let jobId: string | undefined;

  beforeAll(() => {
    db = testDb();
  });
  afterAll(async () => {
    // Every row this file could have made carries TAG in its name (items go by cascade).
    await db.from('batch_jobs').delete().like('name', `${TAG}%`);
  });

  it("inserts a 'queued' job with the service role and reads it back", async () => {
    const inserted = unwrap(
      'batch_jobs',
      await db
        .from('batch_jobs')
        .insert({ name: `${TAG} queued job`, status: 'queued', total_items: 1 })
        .select('id')
        .single<{ id: string }>(),
    );
    jobId = inserted.id;

    const row = unwrap('batch_jobs', await db.from('batch_jobs').select('*').eq('id', jobId).single());
    expect(row).toMatchObject({
      id: jobId,
      name: `${TAG} queued job`,
      status: 'queued',
      priority: 'normal',
      job_type: 'generation',
      total_items: 1,
      completed_items: 0,
      started_at: null,
    });
  });

  it("answers an update to status 'bogus' with a catalogued DB_CONSTRAINT_VIOLATION, and keeps the row", async () => {
    expect(jobId).toBeDefined();
    // @ts-expect-error -- 'bogus' is no JobStatus: the database's CHECK must refuse it as the type does
    const result = await db.from('batch_jobs').update({ status: 'bogus' }).eq('id', jobId!);
    expect(result.error?.code).toBe('23514');

    let thrown: unknown;
    try {
      unwrap('batch_jobs', result);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BulkgenError);
    const err = thrown as BulkgenError;
    expect(err.code).toBe('DB_CONSTRAINT_VIOLATION');
    expect(err.status).toBe(422);
    expect(err.message).toContain('batch_jobs');
    expect(err.message).toContain('batch_jobs_status_check');
    expect(err.details).toEqual({ pgCode: '23514' });

    // The repository the workflow uses surfaces the same error.
    await expect(updateJob(db, jobId!, { status: 'bogus' as JobStatus })).rejects.toMatchObject({
      name: 'BulkgenError',
      code: 'DB_CONSTRAINT_VIOLATION',
    });

    const row = unwrap('batch_jobs', await db.from('batch_jobs').select('status').eq('id', jobId!).single());
    expect(row).toEqual({ status: 'queued' });
  });

  it('refuses the anon key on batch_jobs, batch_items and conversations (42501), and nothing changes', async () => {
    expect(jobId).toBeDefined();
    const anon = anonClient();
    const before = await Promise.all(SEEN_TABLES.map((t) => countRows(db, t)));

    const rowsFor: Record<(typeof SEEN_TABLES)[number], Record<string, unknown>> = {
      batch_jobs: { name: `${TAG} anon job` },
      batch_items: { batch_job_id: jobId, position: 99, tier: 'template', topic: `${TAG} anon item` },
      conversations: { conversation: { turns: [] }, model: TAG },
    };
    for (const table of SEEN_TABLES) {
      const read = await anon.from(table).select('*').limit(1);
      expect({ table, code: read.error?.code, data: read.data }).toEqual({ table, code: '42501', data: null });
      expect(fromPostgrestError(table, read.error!)).toMatchObject({ code: 'DB_PERMISSION_DENIED', status: 403 });

      const write = await anon.from(table).insert(rowsFor[table]);
      expect({ table, code: write.error?.code }).toEqual({ table, code: '42501' });
    }

    const after = await Promise.all(SEEN_TABLES.map((t) => countRows(db, t)));
    expect(after).toEqual(before);
  });

  it('answers a request without an apikey with 401, before PostgREST', async () => {
    const res = await fetch(`${stackEnv().SUPABASE_URL}/rest/v1/batch_jobs`);
    expect(res.status).toBe(401);
    await res.body?.cancel();

    const wrongKey = await fetch(`${stackEnv().SUPABASE_URL}/rest/v1/batch_jobs`, { headers: { apikey: 'not-a-key' } });
    expect(wrongKey.status).toBe(401);
    await wrongKey.body?.cancel();
  });
});
