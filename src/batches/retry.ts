import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import { findJob, getJob, updateJob } from '../db/jobs';
import { TERMINAL_JOB_STATUSES, type RetryableItemStatus } from '../domain/enums';
import type { BatchJobRow } from '../domain/rows';
import { BulkgenError } from '../errors';
import { workflowIdFor } from '../temporal/client';
import { isTemporalUnreachable, temporalUnavailable } from '../temporal/errors';
import type { batchWorkflow } from '../../workflows/batch';
import type { BatchRunOptions, BatchWorkflowInput } from '../../workflows/contract';
import { BatchStatusKey, BatchTierKey } from '../../workflows/search-attributes';
import { assertTemporalReachable } from './submit';

/** What a retry answers (the POST /v1/batches/:id/retry body). */
export interface RetryResult {
  jobId: string;
  workflowId: string;
  /** The run the retry started (null when an idempotent replay finds none recorded). */
  runId: string | null;
  status: 'queued';
  /** This retry's number (the job's `retry_count` after it). */
  retry: number;
  /** Items the retry queued again. */
  items: number;
  statuses: RetryableItemStatus[];
  /** False when an Idempotency-Key matched an earlier retry of this job. */
  created: boolean;
}

/** What a retry needs. */
export interface RetryDeps {
  db: Db;
  temporal: Client;
  config: Pick<Config, 'TEMPORAL_TASK_QUEUE' | 'TEMPORAL_ADDRESS'>;
}

/** Options of a retry. */
export interface RetryOptions {
  /** Default `['failed']`. */
  statuses?: RetryableItemStatus[];
  idempotencyKey?: string;
  runOptions?: BatchRunOptions;
}

/** A `batch_retries` row as `retry_batch_job` returns it. */
interface RetryRow {
  id: string;
  retry_number: number;
  statuses: RetryableItemStatus[];
  items: number;
  run_id: string | null;
}

type RetryAnswer =
  | { outcome: 'not_found' }
  | { outcome: 'replayed'; retry: RetryRow; job: BatchJobRow }
  | { outcome: 'not_ended' | 'in_progress' | 'nothing'; job: BatchJobRow }
  | { outcome: 'started'; retry: RetryRow; job: BatchJobRow; active_ms: number };

/** How long a retry waits for the workflow of a job that has just ended to close (it writes the row, then returns). */
const CLOSING_WAIT_MS = 10_000;

/**
 * Retries an ended job: its items of `statuses` (default failed) go back to `queued` with their
 * error cleared, the job row is rewritten (`retry_batch_job`, one transaction; see the migration
 * 20261202140001), then a new run of workflow `batch-<jobId>` takes exactly the queued items. The
 * workflow id is reused (`workflowIdReusePolicy: 'ALLOW_DUPLICATE'`: a closed workflow id may start
 * again; `workflowIdConflictPolicy: 'FAIL'`: never beside an open run). The run gets the job's
 * counters as its starting counts, so successful items stay counted once. If the workflow cannot be
 * started, the retry is undone (`undo_batch_retry`): items and job row as they were.
 *
 * @throws JOB_NOT_FOUND, JOB_NOT_ENDED, RETRY_IN_PROGRESS, NOTHING_TO_RETRY (409),
 *   TEMPORAL_UNAVAILABLE, WORKFLOW_START_FAILED (503)
 */
export async function retryBatch(deps: RetryDeps, jobId: string, opts: RetryOptions = {}): Promise<RetryResult> {
  const statuses: RetryableItemStatus[] = opts.statuses ?? ['failed'];
  await assertTemporalReachable(deps);
  const before = await getJob(deps.db, jobId);
  const workflowId = workflowIdFor(jobId);
  if (TERMINAL_JOB_STATUSES.includes(before.status)) await waitForClosedWorkflow(deps, jobId);

  const answer = unwrap(
    'batch_jobs',
    await deps.db.rpc('retry_batch_job', {
      p_job_id: jobId,
      p_statuses: statuses,
      ...(opts.idempotencyKey === undefined ? {} : { p_idempotency_key: opts.idempotencyKey }),
    }),
  ) as unknown as RetryAnswer;

  switch (answer.outcome) {
    case 'not_found':
      throw new BulkgenError('JOB_NOT_FOUND', { id: jobId });
    case 'not_ended':
      throw new BulkgenError(
        'JOB_NOT_ENDED',
        { id: jobId, status: answer.job.status, action: 'can be retried' },
        { status: answer.job.status },
      );
    case 'in_progress':
      throw new BulkgenError(
        'RETRY_IN_PROGRESS',
        { id: jobId, retry: answer.job.retry_count, status: answer.job.status },
        { status: answer.job.status, retry: answer.job.retry_count },
      );
    case 'nothing':
      throw new BulkgenError('NOTHING_TO_RETRY', { id: jobId, statuses: statuses.join(' or ') }, { status: answer.job.status, statuses });
    case 'replayed': {
      let runId = answer.retry.run_id;
      // The first call may have stopped between its database part and the start: start it now.
      if (runId === null && answer.job.status === 'queued') {
        runId = await startRetryRun(deps, answer.job, answer.retry, 0, opts.runOptions, 'USE_EXISTING');
      }
      return result(jobId, workflowId, runId, answer.retry, false);
    }
    case 'started': {
      const runId = await startRetryRun(deps, answer.job, answer.retry, Number(answer.active_ms), opts.runOptions, 'FAIL');
      return result(jobId, workflowId, runId, answer.retry, true);
    }
  }
}

function result(jobId: string, workflowId: string, runId: string | null, retry: RetryRow, created: boolean): RetryResult {
  return { jobId, workflowId, runId, status: 'queued', retry: retry.retry_number, items: retry.items, statuses: retry.statuses, created };
}

/**
 * A job's row ends (finalizeJob) a moment before its workflow closes; a retry in between would find
 * the workflow open. Waits for it, then lets `retry_batch_job` decide.
 */
async function waitForClosedWorkflow(deps: RetryDeps, jobId: string): Promise<void> {
  const workflowId = workflowIdFor(jobId);
  const handle = deps.temporal.workflow.getHandle(workflowId);
  try {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') return;
    // An open run beside a row that no longer shows the end is another retry's run: nothing to wait for.
    const now = await findJob(deps.db, jobId);
    if (!now || !TERMINAL_JOB_STATUSES.includes(now.status)) return;
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      handle.result().then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSING_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!closed) {
      const job = await getJob(deps.db, jobId);
      throw new BulkgenError(
        'JOB_NOT_ENDED',
        { id: job.id, status: `${job.status} but its workflow ${workflowId} is still running`, action: 'can be retried' },
        { status: job.status, workflowRunning: true },
      );
    }
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return;
    if (isTemporalUnreachable(err)) throw temporalUnavailable(err, deps.config.TEMPORAL_ADDRESS);
    throw err;
  }
}

/** Starts the retry's run; on failure undoes the retry (or, if that fails too, marks the job failed) and throws WORKFLOW_START_FAILED. */
async function startRetryRun(
  deps: RetryDeps,
  job: BatchJobRow,
  retry: RetryRow,
  activeMs: number,
  runOptions: BatchRunOptions | undefined,
  conflictPolicy: 'FAIL' | 'USE_EXISTING',
): Promise<string> {
  const workflowId = workflowIdFor(job.id);
  const input: BatchWorkflowInput = {
    jobId: job.id,
    // The job's counts after the reset: the run adds the retried items' outcomes to them.
    counters: { successful: job.successful_items, failed: job.failed_items },
    // No startedAt: the run starts 'queued' and says 'processing' at its first item, as a new job does.
    carried: { paused: false, activeMs, run: 1 },
    ...(runOptions ? { options: runOptions } : {}),
  };
  let runId: string;
  try {
    const handle = await deps.temporal.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      workflowId,
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      args: [input],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      workflowIdConflictPolicy: conflictPolicy,
      typedSearchAttributes: [
        { key: BatchStatusKey, value: 'queued' },
        { key: BatchTierKey, value: job.tier },
      ],
      staticSummary: `${job.name}: retry ${retry.retry_number} of ${retry.items} items (${retry.statuses.join(', ')})`,
      staticDetails: `job ${job.id}; retry ${retry.retry_number}: ${retry.items} of ${job.total_items} items queued again (${retry.statuses.join(', ')})`,
    });
    runId = handle.firstExecutionRunId;
  } catch (err) {
    await undoRetry(deps.db, job.id, retry.id, (err as Error).message);
    if (isTemporalUnreachable(err)) throw temporalUnavailable(err, deps.config.TEMPORAL_ADDRESS);
    throw new BulkgenError(
      'WORKFLOW_START_FAILED',
      { workflowId, detail: `${(err as Error).message} (the retry was undone)` },
      { temporalAddress: deps.config.TEMPORAL_ADDRESS },
      { cause: err },
    );
  }
  // A record only: the run is started either way.
  await deps.db.rpc('set_batch_retry_run', { p_retry_id: retry.id, p_run_id: runId }).then(
    () => undefined,
    () => undefined,
  );
  return runId;
}

/** Puts the job back as it was before the retry; if even that fails, marks it failed with the reason. */
async function undoRetry(db: Db, jobId: string, retryId: string, reason: string): Promise<void> {
  const { error } = await db.rpc('undo_batch_retry', { p_retry_id: retryId });
  if (!error) return;
  await updateJob(db, jobId, {
    status: 'failed',
    error_message: `the retry's workflow could not be started: ${reason}`,
    completed_at: new Date().toISOString(),
  }).catch(() => {});
}
