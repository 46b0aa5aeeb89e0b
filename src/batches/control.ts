import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { findJob, getJob, updateJob } from '../db/jobs';
import { TERMINAL_JOB_STATUSES, type JobStatus } from '../domain/enums';
import type { BatchJobRow } from '../domain/rows';
import { BulkgenError } from '../errors';
import { workflowIdFor } from '../temporal/client';
import {
  cancelSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setConcurrencySignal,
  setSpendCapSignal,
  type BatchProgress,
} from '../../workflows/messages';
import { getJobCost } from '../export/job-costs';
import { isTemporalUnreachable, temporalUnavailable } from '../temporal/errors';

/** What the routes hand to this module. */
export interface ControlDeps {
  db: Db;
  temporal: Client;
  config: Pick<Config, 'TEMPORAL_ADDRESS'>;
}

/** An operator action on a running batch. */
export type JobAction = 'pause' | 'resume' | 'cancel' | 'setConcurrency' | 'setSpendCap';

/**
 * From which statuses each action is accepted (the workflow ignores the
 * rest; the API answers 409 for them). See docs/architecture.md, "Signals and query".
 */
export const ALLOWED_FROM: Record<JobAction, readonly JobStatus[]> = {
  pause: ['queued', 'processing'],
  resume: ['paused'],
  cancel: ['queued', 'processing', 'paused'],
  setConcurrency: ['queued', 'processing', 'paused'],
  setSpendCap: ['queued', 'processing', 'paused'],
};

/** Statuses during which the workflow runs and can answer its `progress` query. */
const LIVE: readonly JobStatus[] = ['queued', 'processing', 'paused'];

/** How long a progress query may take before the API answers without it. */
const PROGRESS_DEADLINE_MS = 1500;
/** How long a signal may take (including the client's own retries) before 503. */
const SIGNAL_DEADLINE_MS = 10_000;

function assertAllowed(job: BatchJobRow, action: JobAction): void {
  if (!ALLOWED_FROM[action].includes(job.status)) {
    throw new BulkgenError(
      'INVALID_TRANSITION',
      { action, id: job.id, status: job.status },
      { status: job.status, allowedFrom: ALLOWED_FROM[action] },
    );
  }
}

/**
 * Sends `action` to workflow `batch-<jobId>` after checking the job's
 * current status allows it. The route never writes status: the workflow
 * does, once it handles the signal.
 *
 * @throws JOB_NOT_FOUND, INVALID_TRANSITION (409), TEMPORAL_UNAVAILABLE (503)
 */
export async function signalJob(deps: ControlDeps, jobId: string, action: JobAction, value?: number | null): Promise<void> {
  const job = await getJob(deps.db, jobId);
  assertAllowed(job, action);
  if (action === 'resume') await assertUnderSpendCap(deps.db, job);
  // The cap is the row's first (a run reads it when it starts), then the running workflow's.
  if (action === 'setSpendCap') await updateJob(deps.db, jobId, { max_cost_usd: value ?? null });
  const handle = deps.temporal.workflow.getHandle(workflowIdFor(jobId));
  try {
    await deps.temporal.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => {
      switch (action) {
        case 'pause':
          return handle.signal(pauseSignal);
        case 'resume':
          return handle.signal(resumeSignal);
        case 'cancel':
          return handle.signal(cancelSignal);
        case 'setConcurrency':
          return handle.signal(setConcurrencySignal, { concurrency: value! });
        case 'setSpendCap':
          return handle.signal(setSpendCapSignal, { maxCostUsd: value ?? null });
      }
    });
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      // The workflow ended between our read and the signal: answer with the status it ended in.
      const now = await findJob(deps.db, jobId);
      if (!now) throw new BulkgenError('JOB_NOT_FOUND', { id: jobId });
      if (TERMINAL_JOB_STATUSES.includes(now.status)) assertAllowed(now, action);
      throw new BulkgenError('NOT_FOUND', { what: `workflow '${workflowIdFor(jobId)}' of job '${jobId}'` }, undefined, { cause: err });
    }
    if (isTemporalUnreachable(err)) throw temporalUnavailable(err, deps.config.TEMPORAL_ADDRESS);
    throw err;
  }
}

/** A job at or over its spend cap stays paused: resuming it would pause it again at once. */
async function assertUnderSpendCap(db: Db, job: BatchJobRow): Promise<void> {
  if (job.max_cost_usd === null) return;
  const cap = Number(job.max_cost_usd);
  const { costUsd } = await getJobCost(db, job.id);
  if (costUsd >= cap) {
    throw new BulkgenError(
      'SPEND_CAP_REACHED',
      { id: job.id, spent: costUsd.toFixed(4), cap: cap.toFixed(4) },
      { spentUsd: costUsd, maxCostUsd: cap },
    );
  }
}

/**
 * The workflow's live `progress`, or null when the job is not running or
 * the query fails or takes too long (no worker, Temporal down): a job's
 * page never fails because of it.
 */
export async function queryProgress(temporal: Client, job: BatchJobRow): Promise<BatchProgress | null> {
  if (!LIVE.includes(job.status)) return null;
  try {
    return await temporal.withDeadline(Date.now() + PROGRESS_DEADLINE_MS, () =>
      temporal.workflow.getHandle(workflowIdFor(job.id)).query(progressQuery),
    );
  } catch {
    return null;
  }
}
