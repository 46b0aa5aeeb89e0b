import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import { deleteJob, updateJob } from '../db/jobs';
import { describeIssues, StartBatchRequest, templateIdOrAuto } from '../domain/batch-request';
import { BulkgenError } from '../errors';
import { workflowIdFor } from '../temporal/client';
import { BatchStatusKey, BatchTierKey } from '../../workflows/search-attributes';
import type { batchWorkflow } from '../../workflows/batch';
import type { BatchRunOptions } from '../../workflows/contract';
import { temporalUnavailable } from '../temporal/errors';
import { estimateBatch, estimateItems } from './estimate';
import { parameterSetsFromJob } from './from-job';

/** What submitting a batch answers (the POST /v1/batches body). */
export interface SubmitResult {
  jobId: string;
  workflowId: string;
  status: 'queued';
  totalItems: number;
  estimatedCost: number;
  estimatedTimeSeconds: number;
  /** False when an Idempotency-Key matched an earlier submission. */
  created: boolean;
}

/** What submission needs. */
export interface SubmitDeps {
  db: Db;
  temporal: Client;
  config: Pick<
    Config,
    | 'TEMPORAL_TASK_QUEUE'
    | 'TEMPORAL_ADDRESS'
    | 'GENERATOR'
    | 'GENERATOR_LATENCY_MS'
    | 'ANTHROPIC_MODEL'
    | 'OPENAI_MODEL'
    | 'PRICE_TABLE_JSON'
  >;
}

/**
 * Validates a start request, creates the job and all its items in one
 * transaction (`create_batch_job`), then starts workflow `batch-<jobId>`.
 * If the workflow cannot be started, the job is deleted again: no job is
 * left queued without a workflow. The same idempotency key returns the same
 * job and starts nothing new.
 */
export async function submitBatch(deps: SubmitDeps, body: unknown, opts: SubmitOptions = {}): Promise<SubmitResult> {
  return submitParsedBatch(deps, parseStartRequest(body), opts);
}

/** A start body parsed by {@link StartBatchRequest}, or VALIDATION_FAILED naming every field it got wrong. */
export function parseStartRequest(body: unknown): StartBatchRequest {
  const parsed = StartBatchRequest.safeParse(body);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error);
    throw new BulkgenError('VALIDATION_FAILED', { summary: issues.map((i) => `${i.field}: ${i.message}`).join('; ') }, { issues });
  }
  return parsed.data;
}

/** Options of a submission. */
export interface SubmitOptions {
  idempotencyKey?: string;
  runOptions?: BatchRunOptions;
}

/**
 * `submitBatch` for a request already parsed by {@link StartBatchRequest}
 * (the API's route schema does that; a 100,000-item body is not parsed twice).
 */
export async function submitParsedBatch(deps: SubmitDeps, req: StartBatchRequest, opts: SubmitOptions = {}): Promise<SubmitResult> {
  estimateBatch(deps.config, req); // TOO_MANY_ITEMS before anything is written

  await assertTemporalReachable(deps);
  const fromSets = req.fromJob ? await parameterSetsFromJob(deps.db, req.fromJob) : null;
  const created = unwrap(
    'batch_jobs',
    await deps.db.rpc('create_batch_job', {
      p_job: {
        name: req.name,
        tier: req.tier,
        priority: req.priority,
        concurrent_processing: req.concurrentProcessing,
        error_handling: req.errorHandling,
        tolerated_failure_percent: req.toleratedFailurePercent ?? null,
        max_cost_usd: req.maxCostUsd ?? null,
        idempotency_key: opts.idempotencyKey ?? null,
        created_by: req.createdBy ?? null,
        template_id: templateIdOrAuto(req.templateId),
        shared_parameters: {
          template_id: templateIdOrAuto(req.templateId),
          execution_mode: req.executionMode,
          ...(req.fromJob ? { from_job: { job_id: req.fromJob.jobId, statuses: req.fromJob.statuses } } : {}),
        },
      },
      p_persona_ids: req.personaIds ?? null,
      p_arc_ids: req.emotionalArcIds ?? null,
      p_topic_ids: req.topicIds ?? null,
      p_parameter_sets: fromSets
        ? fromSets.map((s) => ({ ...s, template_id: req.templateId === undefined ? s.template_id : templateIdOrAuto(req.templateId) }))
        : req.parameterSets
          ? req.parameterSets.map((s) => ({
              persona_id: s.personaId,
              emotional_arc_id: s.emotionalArcId,
              training_topic_id: s.topicId,
              template_id: templateIdOrAuto(s.templateId ?? req.templateId),
              tier: s.tier ?? req.tier,
            }))
          : null,
    }),
  ) as { job_id: string; total_items: number; created: boolean };

  const jobId = created.job_id;
  const workflowId = workflowIdFor(jobId);
  try {
    await deps.temporal.workflow.start<typeof batchWorkflow>('batchWorkflow', {
      workflowId,
      taskQueue: deps.config.TEMPORAL_TASK_QUEUE,
      args: [{ jobId, ...(opts.runOptions ? { options: opts.runOptions } : {}) }],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: BatchStatusKey, value: 'queued' },
        { key: BatchTierKey, value: req.tier },
      ],
      staticSummary: `${req.name}: ${created.total_items} items, tier ${req.tier}`,
      staticDetails:
        `job ${jobId}; ${created.total_items} items; tier ${req.tier}; concurrency ${req.concurrentProcessing}; ` +
        `error handling ${req.errorHandling}${req.toleratedFailurePercent === undefined ? '' : ` (tolerates ${req.toleratedFailurePercent}%)`}`,
    });
  } catch (err) {
    // An idempotent repeat of a job whose workflow already ran is fine.
    if (!created.created && err instanceof WorkflowExecutionAlreadyStartedError) {
      return result(deps, jobId, workflowId, created.total_items, req.concurrentProcessing, false);
    }
    if (created.created) await undoJob(deps.db, jobId, (err as Error).message);
    throw new BulkgenError(
      'WORKFLOW_START_FAILED',
      { workflowId, detail: (err as Error).message },
      { temporalAddress: deps.config.TEMPORAL_ADDRESS },
      { cause: err },
    );
  }
  return result(deps, jobId, workflowId, created.total_items, req.concurrentProcessing, created.created);
}

function result(
  deps: SubmitDeps,
  jobId: string,
  workflowId: string,
  totalItems: number,
  concurrency: number,
  created: boolean,
): SubmitResult {
  return {
    jobId,
    workflowId,
    status: 'queued',
    ...estimateItems(deps.config, totalItems, concurrency),
    created,
  };
}

/** How long submission waits for Temporal to answer before refusing with TEMPORAL_UNAVAILABLE. */
const TEMPORAL_CHECK_DEADLINE_MS = 3000;

/**
 * Fails fast, before any row is written, when Temporal does not answer: the
 * client's own retries would otherwise hold the request for ~20 s.
 */
export async function assertTemporalReachable(deps: { temporal: Client; config: Pick<Config, 'TEMPORAL_ADDRESS'> }): Promise<void> {
  try {
    await deps.temporal.withDeadline(Date.now() + TEMPORAL_CHECK_DEADLINE_MS, () => deps.temporal.workflowService.getSystemInfo({}));
  } catch (err) {
    throw temporalUnavailable(err, deps.config.TEMPORAL_ADDRESS);
  }
}

/** Deletes a job whose workflow never started; if even that fails, marks it failed with the reason. */
async function undoJob(db: Db, jobId: string, reason: string): Promise<void> {
  try {
    await deleteJob(db, jobId);
  } catch {
    await updateJob(db, jobId, {
      status: 'failed',
      error_message: `the workflow could not be started: ${reason}`,
      completed_at: new Date().toISOString(),
    }).catch(() => {});
  }
}
