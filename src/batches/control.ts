import type { Client } from '@temporalio/client';
import type { Db } from '../db/client';
import { getJob } from '../db/jobs';
import type { JobStatus } from '../domain/enums';
import { BulkgenError } from '../errors';
import { workflowIdFor } from '../temporal/client';
import { cancelSignal, MAX_CONCURRENCY, pauseSignal, progressQuery, resumeSignal, setConcurrencySignal, type BatchProgress } from '../../workflows/messages';

/** What an operator can ask of a running batch. */
export type ControlAction = 'pause' | 'resume' | 'cancel';

/** The job statuses each action is valid from; anything else is a 409. */
export const ALLOWED_FROM: Readonly<Record<ControlAction | 'setConcurrency', readonly JobStatus[]>> = {
  pause: ['queued', 'processing'],
  resume: ['paused'],
  cancel: ['queued', 'processing', 'paused'],
  setConcurrency: ['queued', 'processing', 'paused'],
};

const SIGNALS = { pause: pauseSignal, resume: resumeSignal, cancel: cancelSignal } as const;

/**
 * Signals the job's workflow after checking the transition against the
 * row: JOB_NOT_FOUND, INVALID_TRANSITION (409). It never writes status:
 * the workflow does.
 */
export async function controlBatch(deps: { db: Db; temporal: Client }, jobId: string, action: ControlAction): Promise<{ jobId: string; action: ControlAction; status: JobStatus }> {
  const job = await getJob(deps.db, jobId);
  if (!ALLOWED_FROM[action].includes(job.status)) throw new BulkgenError('INVALID_TRANSITION', { action, id: jobId, status: job.status });
  await deps.temporal.workflow.getHandle(workflowIdFor(jobId)).signal(SIGNALS[action]);
  return { jobId, action, status: job.status };
}

/** Changes how many items may be in flight (1..200) while the job runs. */
export async function setBatchConcurrency(deps: { db: Db; temporal: Client }, jobId: string, concurrency: number): Promise<void> {
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    throw new BulkgenError('VALIDATION_FAILED', { summary: `concurrentProcessing: expected a whole number from 1 to ${MAX_CONCURRENCY}, got '${concurrency}'` });
  }
  const job = await getJob(deps.db, jobId);
  if (!ALLOWED_FROM.setConcurrency.includes(job.status)) throw new BulkgenError('INVALID_TRANSITION', { action: 'change the concurrency of', id: jobId, status: job.status });
  await deps.temporal.workflow.getHandle(workflowIdFor(jobId)).signal(setConcurrencySignal, { concurrency });
}

/** The workflow's live progress, or null when it has ended or cannot answer. */
export async function liveProgress(temporal: Client, jobId: string): Promise<BatchProgress | null> {
  try {
    return await temporal.workflow.getHandle(workflowIdFor(jobId)).query(progressQuery);
  } catch {
    return null;
  }
}
