import type { JobEnd, JobPatch } from '../domain/job-writes';
import type { BatchJobRow } from '../domain/rows';
import { BulkgenError } from '../errors';
import type { Db } from './client';
import { unwrap } from './errors';

/** Reads one job; JOB_NOT_FOUND when there is none. */
export async function getJob(db: Db, id: string): Promise<BatchJobRow> {
  const row = unwrap('batch_jobs', await db.from('batch_jobs').select('*').eq('id', id).maybeSingle<BatchJobRow>());
  if (!row) throw new BulkgenError('JOB_NOT_FOUND', { id });
  return row;
}

/** Reads one job, or undefined. */
export async function findJob(db: Db, id: string): Promise<BatchJobRow | undefined> {
  return unwrap('batch_jobs', await db.from('batch_jobs').select('*').eq('id', id).maybeSingle<BatchJobRow>()) ?? undefined;
}

/** Writes `patch` onto the job. */
export async function updateJob(db: Db, id: string, patch: JobPatch): Promise<void> {
  unwrap('batch_jobs', await db.from('batch_jobs').update(patch).eq('id', id));
}

/** Deletes a job and (by cascade) its items: used to undo a submission whose workflow never started. */
export async function deleteJob(db: Db, id: string): Promise<void> {
  unwrap('batch_jobs', await db.from('batch_jobs').delete().eq('id', id));
}

/**
 * Ends a job in one transaction (`finalize_batch_job`): cancels its items that have not ended, writes
 * the final status, counters and `completed_at`, and the 'finish' checkpoint. Returns the job's
 * cancelled items. A second call for the same run changes nothing and answers the same.
 */
export async function finalizeJobRow(db: Db, jobId: string, end: JobEnd): Promise<number> {
  const { data, error } = await db.rpc('finalize_batch_job', {
    p_job: jobId,
    p_status: end.status,
    p_successful: end.successful,
    p_failed: end.failed,
    p_run_id: end.checkpoint.runId,
    p_cursor_position: end.checkpoint.cursorPosition,
    p_counters: end.checkpoint.counters,
    ...(end.errorMessage === undefined ? {} : { p_error_message: end.errorMessage }),
  });
  return unwrap('finalize_batch_job', { data: (data ?? 0) as number, error });
}
