import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from '../src/db/client';
import { writeCheckpoint, type CheckpointInput } from '../src/db/checkpoints';
import { cancelOpenItems, countItems, pageQueuedItems, settleItems, type ItemOutcome, type ItemRef } from '../src/db/items';
import { findJob, updateJob, type JobPatch } from '../src/db/jobs';
import { ScaffoldingCache } from '../src/db/scaffolding';
import type { ErrorHandling, JobStatus, Tier } from '../src/domain/enums';
import type { ConversationGenerator } from '../src/generation';
import type { ItemMetricsRecorder } from '../src/metrics/item-metrics';
import type { RateLimit } from '../src/rate-limit/limit';
import { createRateLimiter } from '../src/rate-limit/limiter';
import { processItemChain, type ItemChainDeps, type ProcessItemInput, type ProcessItemResult } from './process-item';
import { processLane, type ProcessLaneInput, type ProcessLaneResult } from './process-lane';

export type { ProcessItemInput, ProcessItemResult } from './process-item';
export type { ProcessLaneInput, ProcessLaneResult } from './process-lane';
export type { ItemOutcome } from '../src/db/items';

/** What the activities need; tests and the worker pass real ones. */
export interface ActivityDeps {
  db: Db;
  generator: ConversationGenerator;
  /** Per-worker cache of scaffolding and template choices. */
  scaffolding?: ScaffoldingCache;
  /** Attempts whose output fails the schema before the item fails (GENERATOR_MAX_INVALID_ATTEMPTS). */
  maxInvalidOutputAttempts?: number;
  /**
   * The global provider rate limit (GENERATOR_MAX_REQUESTS_PER_SECOND, see `taskQueueRateLimit`):
   * each generation attempt first waits for a slot of it. Undefined = no limit.
   */
  rateLimit?: RateLimit;
  /** This worker's item metrics (items by outcome, durations); undefined = nothing is counted. */
  itemMetrics?: ItemMetricsRecorder;
}

/** The job settings the workflow runs by. */
export interface JobSettings {
  name: string;
  status: JobStatus;
  tier: Tier;
  totalItems: number;
  concurrency: number;
  errorHandling: ErrorHandling;
  toleratedFailurePercent: number | null;
}

/** Input of `fetchItemPage`. */
export interface FetchItemPageInput {
  jobId: string;
  afterPosition: number;
  limit: number;
}

/** Input of `finalizeJob`: the job's end, written once the workflow is done. */
export interface FinalizeJobInput {
  jobId: string;
  status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>;
  successful: number;
  failed: number;
  errorMessage?: string;
  checkpoint: Omit<CheckpointInput, 'reason' | 'jobId'>;
}

/**
 * Builds the activities with their dependencies injected
 * (samples-typescript `activities-dependency-injection`). All I/O of a batch
 * lives here; the workflow only decides.
 */
export function createActivities(deps: ActivityDeps) {
  const { db, generator } = deps;
  // One per worker: it keeps the worker's estimate of the database clock (see createRateLimiter).
  const rateLimiter = deps.rateLimit && createRateLimiter(db, deps.rateLimit);
  const scaffolding = deps.scaffolding ?? new ScaffoldingCache(db);
  const { itemMetrics } = deps;
  // What every item chain gets (a lane hands it to each of its items).
  const chainDeps: ItemChainDeps = { db, generator, scaffolding, rateLimiter, itemMetrics };
  return {
    /** Reads the job's settings at the start of each run. */
    async loadJob(jobId: string): Promise<JobSettings> {
      const job = await findJob(db, jobId);
      // A missing row cannot appear by retrying: the workflow fails at once, naming it.
      if (!job) throw ApplicationFailure.nonRetryable(`batch job '${jobId}' does not exist`, 'JOB_NOT_FOUND');
      return {
        name: job.name,
        status: job.status,
        tier: job.tier,
        totalItems: job.total_items,
        concurrency: job.concurrent_processing,
        errorHandling: job.error_handling,
        toleratedFailurePercent: job.tolerated_failure_percent === null ? null : Number(job.tolerated_failure_percent),
      };
    },

    /** The next page of queued items by position: ids and positions only. */
    async fetchItemPage(input: FetchItemPageInput): Promise<ItemRef[]> {
      return pageQueuedItems(db, input.jobId, input.afterPosition, input.limit);
    },

    /** The item chain; see `processItemChain`. */
    async processItem(input: ProcessItemInput): Promise<ProcessItemResult> {
      return processItemChain(chainDeps, { ...input, maxInvalidOutputAttempts: input.maxInvalidOutputAttempts ?? deps.maxInvalidOutputAttempts });
    },

    /** A lane: items of a job one after another, each through its own chain, in one activity; see `processLane`. */
    async processLane(input: ProcessLaneInput): Promise<ProcessLaneResult> {
      return processLane(chainDeps, { ...input, maxInvalidOutputAttempts: input.maxInvalidOutputAttempts ?? deps.maxInvalidOutputAttempts });
    },

    /**
     * Where the items of a lane the workflow gave up on (`failMessage`: its retries ran out, the
     * item it was running fails with it) or cancelled stand: which ended and how, which never started.
     */
    async settleItems(input: { itemIds: string[]; failMessage?: string }): Promise<ItemOutcome[]> {
      const { outcomes, failedNow } = await settleItems(db, input.itemIds, input.failMessage);
      // The items this call failed (none when the activity runs again) ended here: count them.
      for (let i = 0; i < failedNow; i++) itemMetrics?.recordItem('failed');
      return outcomes;
    },

    /** Writes status, counters and ETA onto the job row, as absolute values. */
    async syncJob(input: { jobId: string; patch: JobPatch }): Promise<void> {
      await updateJob(db, input.jobId, input.patch);
    },

    /** Appends a checkpoint (continue-as-new and pause). */
    async writeCheckpoint(input: CheckpointInput): Promise<void> {
      await writeCheckpoint(db, input);
    },

    /**
     * Ends the job: cancels every item that has not ended, then writes the
     * final status, counters and `completed_at`, then the 'finish' checkpoint.
     */
    async finalizeJob(input: FinalizeJobInput): Promise<{ cancelled: number }> {
      Context.current().heartbeat();
      await cancelOpenItems(db, input.jobId);
      const cancelled = await countItems(db, input.jobId, 'cancelled');
      await updateJob(db, input.jobId, {
        status: input.status,
        successful_items: input.successful,
        failed_items: input.failed,
        completed_items: input.successful + input.failed,
        cancelled_items: cancelled,
        estimated_time_remaining: 0,
        completed_at: new Date().toISOString(),
        error_message: input.errorMessage ?? null,
      });
      await writeCheckpoint(db, {
        ...input.checkpoint,
        jobId: input.jobId,
        reason: 'finish',
        counters: { ...input.checkpoint.counters, cancelled },
      });
      return { cancelled };
    },
  };
}

/** The activity interface the workflow proxies (`import type` only). */
export type BatchActivities = ReturnType<typeof createActivities>;
