import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import { findJob } from '../db/jobs';
import type { StartBatchRequest } from '../domain/batch-request';
import { TERMINAL_JOB_STATUSES } from '../domain/enums';
import { BulkgenError } from '../errors';

/** One item of another job as `create_batch_job` takes it. */
export interface StoredParameterSet {
  persona_id: string;
  emotional_arc_id: string;
  training_topic_id: string;
  template_id: string | null;
  tier: string;
}

/**
 * The combinations of another job's items of `statuses`, by position (`job_parameter_sets`, one
 * query). The other job must have ended (its failures are final only then).
 */
export async function parameterSetsFromJob(db: Db, from: NonNullable<StartBatchRequest['fromJob']>): Promise<StoredParameterSet[]> {
  const source = await findJob(db, from.jobId);
  if (!source) {
    throw new BulkgenError(
      'UNKNOWN_REFERENCE',
      { field: 'fromJob.jobId', detail: `no batch job with id '${from.jobId}'` },
      { field: 'fromJob.jobId' },
    );
  }
  if (!TERMINAL_JOB_STATUSES.includes(source.status)) {
    throw new BulkgenError(
      'JOB_NOT_ENDED',
      { id: source.id, status: source.status, action: 'can give its items to a new job (fromJob)' },
      { status: source.status, field: 'fromJob.jobId' },
    );
  }
  const sets = unwrap(
    'batch_items',
    await db.rpc('job_parameter_sets', { p_job_id: from.jobId, p_statuses: from.statuses }),
  ) as unknown as StoredParameterSet[];
  if (sets.length === 0)
    throw new BulkgenError('EMPTY_BATCH', { field: `fromJob (job '${from.jobId}' has no ${from.statuses.join(' or ')} item)` });
  return sets;
}
