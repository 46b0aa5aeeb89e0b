import { JOB_STATUSES, type ItemStatus, type JobStatus, type Tier } from '../domain/enums';
import type { BatchItemRow, BatchJobRow, PromptTemplateRow } from '../domain/rows';
import type { Db } from './client';
import { unwrap } from './errors';

/**
 * Read-only queries for the API and the metrics scrape. Nothing here writes:
 * the workflow is the only writer of job status and counters.
 */

/** Where a page of jobs starts: strictly after this (created_at, id), newest first. */
export interface JobKey {
  createdAt: string;
  id: string;
}

/**
 * One page of jobs, newest first, by keyset on (created_at desc, id desc)
 * (the `batch_jobs_created_id_idx` index). Returns up to `limit + 1` rows so
 * the caller can tell whether another page follows.
 *
 * @example listJobsPage(db, { limit: 20, status: 'paused' })
 */
export async function listJobsPage(
  db: Db,
  opts: { limit: number; status?: JobStatus; after?: JobKey },
): Promise<BatchJobRow[]> {
  let query = db.from('batch_jobs').select('*');
  if (opts.status) query = query.eq('status', opts.status);
  if (opts.after) {
    // Values are double-quoted: timestamps hold ':' and '.', which PostgREST's logic-tree syntax reserves.
    const at = quote(opts.after.createdAt);
    const id = quote(opts.after.id);
    query = query.or(`created_at.lt.${at},and(created_at.eq.${at},id.lt.${id})`);
  }
  return unwrap(
    'batch_jobs',
    await query
      .order('created_at', { ascending: false })
      .order('id', { ascending: false })
      .limit(opts.limit + 1)
      .returns<BatchJobRow[]>(),
  );
}

/**
 * One page of a job's items by position (the (batch_job_id, position)
 * index), after `afterPosition`. Returns up to `limit + 1` rows.
 */
export async function listItemsPage(
  db: Db,
  jobId: string,
  opts: { limit: number; status?: ItemStatus; afterPosition?: number },
): Promise<BatchItemRow[]> {
  let query = db.from('batch_items').select('*').eq('batch_job_id', jobId);
  if (opts.status) query = query.eq('status', opts.status);
  if (opts.afterPosition !== undefined) query = query.gt('position', opts.afterPosition);
  return unwrap('batch_items', await query.order('position', { ascending: true }).limit(opts.limit + 1).returns<BatchItemRow[]>());
}

/**
 * How many jobs are in each status, every status present (0 when none).
 * PostgREST's aggregates are off by default (here and on hosted Supabase),
 * so this is one HEAD count per status, sent together; each is answered
 * from the (status, created_at) index.
 */
export async function countJobsByStatus(db: Db): Promise<Record<JobStatus, number>> {
  const counts = await Promise.all(
    JOB_STATUSES.map(async (status) => {
      const { count, error } = await db.from('batch_jobs').select('id', { count: 'exact', head: true }).eq('status', status);
      if (error) unwrap('batch_jobs', { data: null, error });
      return [status, count ?? 0] as const;
    }),
  );
  return Object.fromEntries(counts) as Record<JobStatus, number>;
}

/** Prompt templates by name, optionally only one tier and/or one arc key (`emotional_arc_type`). */
export async function listTemplates(db: Db, opts: { tier?: Tier; arcKey?: string } = {}): Promise<PromptTemplateRow[]> {
  let query = db.from('prompt_templates').select('*');
  if (opts.tier) query = query.eq('tier', opts.tier);
  if (opts.arcKey) query = query.eq('emotional_arc_type', opts.arcKey);
  return unwrap('prompt_templates', await query.order('template_name', { ascending: true }).returns<PromptTemplateRow[]>());
}

/** The cheapest read that proves the database answers through the gateway (for readiness). */
export async function pingDb(db: Db): Promise<void> {
  const { error } = await db.from('batch_jobs').select('id', { head: true }).limit(1);
  if (error) unwrap('batch_jobs', { data: null, error });
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
