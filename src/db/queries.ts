import { z } from 'zod';
import { JOB_STATUSES, type ItemStatus, type JobStatus, type Tier } from '../domain/enums';
import type { BatchItemRow, BatchJobRow, ConversationRow, PromptTemplateRow } from '../domain/rows';
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
export async function listJobsPage(db: Db, opts: { limit: number; status?: JobStatus; after?: JobKey }): Promise<BatchJobRow[]> {
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
      .limit(opts.limit + 1),
  );
}

/**
 * One page of a job's items by position (the (batch_job_id, position)
 * index), after `afterPosition`. Returns up to `limit + 1` rows.
 */
export async function listItemsPage(
  db: Db,
  jobId: string,
  opts: { limit: number; status?: ItemStatus; afterPosition?: number; cell?: CoverageCellKey },
): Promise<BatchItemRow[]> {
  let query = db.from('batch_items').select('*').eq('batch_job_id', jobId);
  if (opts.status) query = query.eq('status', opts.status);
  if (opts.cell) {
    query = query
      .eq('parameters->>persona_id', opts.cell.personaId)
      .eq('parameters->>emotional_arc_id', opts.cell.emotionalArcId)
      .eq('parameters->>training_topic_id', opts.cell.topicId);
  }
  if (opts.afterPosition !== undefined) query = query.gt('position', opts.afterPosition);
  return unwrap('batch_items', await query.order('position', { ascending: true }).limit(opts.limit + 1));
}

/** What GET /metrics reads from the database (`bulkgen_metrics()`), summed over the cluster. */
export interface ClusterMetrics {
  /** Every status present (0 when none). */
  jobsByStatus: Record<JobStatus, number>;
  /** Items the workers ended, by outcome, summed over `worker_item_metrics`. */
  itemsByOutcome: Record<string, number>;
  attemptErrors: number;
  /** Per bucket (NOT cumulative), keyed by upper bound (`'0.5'`, `'+Inf'`). */
  durationBuckets: Record<string, number>;
  durationSumSeconds: number;
  durationCount: number;
}

const Counts = z.record(z.string(), z.coerce.number());
const BulkgenMetricsResult = z.object({
  jobs_by_status: Counts,
  items_by_outcome: Counts,
  attempt_errors: z.coerce.number(),
  duration_buckets: Counts,
  duration_sum_seconds: z.coerce.number(),
  duration_count: z.coerce.number(),
});

/**
 * Jobs by status and the workers' item metrics, in one round trip (the
 * `bulkgen_metrics()` function: PostgREST's aggregates are off by default,
 * here and on hosted Supabase).
 */
export async function readClusterMetrics(db: Db): Promise<ClusterMetrics> {
  const raw: unknown = unwrap('bulkgen_metrics', await db.rpc('bulkgen_metrics'));
  const m = BulkgenMetricsResult.parse(raw);
  return {
    jobsByStatus: Object.fromEntries(JOB_STATUSES.map((status) => [status, m.jobs_by_status[status] ?? 0])) as Record<JobStatus, number>,
    itemsByOutcome: m.items_by_outcome,
    attemptErrors: m.attempt_errors,
    durationBuckets: m.duration_buckets,
    durationSumSeconds: m.duration_sum_seconds,
    durationCount: m.duration_count,
  };
}

/** Prompt templates by name, optionally only one tier and/or one arc key (`emotional_arc_type`). */
export async function listTemplates(db: Db, opts: { tier?: Tier; arcKey?: string } = {}): Promise<PromptTemplateRow[]> {
  let query = db.from('prompt_templates').select('*');
  if (opts.tier) query = query.eq('tier', opts.tier);
  if (opts.arcKey) query = query.eq('emotional_arc_type', opts.arcKey);
  return unwrap('prompt_templates', await query.order('template_name', { ascending: true }));
}

/** The cheapest read that proves the database answers through the gateway (for readiness). */
export async function pingDb(db: Db): Promise<void> {
  // A GET, not a HEAD: a failure's body (PostgREST's PGRST00x, the gateway's "PostgREST is unreachable") names the part down.
  const { error } = await db.from('batch_jobs').select('id').limit(1);
  if (error) unwrap('batch_jobs', { data: null, error });
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** One persona x arc x topic cell of a job, by its ids. */
export interface CoverageCellKey {
  personaId: string;
  emotionalArcId: string;
  topicId: string;
}

/** One persona x arc x topic cell of a job: its scaffolding and its items by status. */
export interface CoverageCell {
  persona_id: string;
  persona_key: string | null;
  persona_name: string | null;
  emotional_arc_id: string;
  arc_key: string | null;
  arc_name: string | null;
  training_topic_id: string;
  topic_key: string | null;
  topic_name: string | null;
  total: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  cancelled: number;
}

/** The job's coverage, one query in Postgres (`batch_coverage`): cells in the job's order. */
export async function jobCoverage(db: Db, jobId: string): Promise<CoverageCell[]> {
  return unwrap('batch_coverage', await db.rpc('batch_coverage', { p_job_id: jobId })) as unknown as CoverageCell[];
}

/** One item by id, or undefined. */
export async function findItem(db: Db, id: string): Promise<BatchItemRow | undefined> {
  return unwrap('batch_items', await db.from('batch_items').select('*').eq('id', id).maybeSingle()) ?? undefined;
}

/** One stored conversation by id, or undefined. */
export async function findConversation(db: Db, id: string): Promise<ConversationRow | undefined> {
  return unwrap('conversations', await db.from('conversations').select('*').eq('id', id).maybeSingle()) ?? undefined;
}

/** How many of a job's items failed with each message, most frequent first (reads at most `limit` failed items). */
export async function failureGroups(db: Db, jobId: string, limit = 10_000): Promise<Array<{ message: string; count: number }>> {
  const rows = unwrap(
    'batch_items',
    await db.from('batch_items').select('error_message').eq('batch_job_id', jobId).eq('status', 'failed').order('position').limit(limit),
  );
  const counts = new Map<string, number>();
  for (const { error_message } of rows) counts.set(error_message ?? '(no message)', (counts.get(error_message ?? '(no message)') ?? 0) + 1);
  return [...counts]
    .map(([message, count]) => ({ message, count }))
    .sort((a, b) => b.count - a.count || a.message.localeCompare(b.message));
}
