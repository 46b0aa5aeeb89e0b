import type { JobPatch } from '../domain/job-writes';
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
