import { ApplicationFailure } from '@temporalio/common';
import { DEFAULTS } from '../src/config';
import type { Db } from '../src/db/client';
import { writeCheckpoint } from '../src/db/checkpoints';
import { pageQueuedItems, settleItems } from '../src/db/items';
import { finalizeJobRow, findJob, updateJob } from '../src/db/jobs';
import { getJobCost } from '../src/export/job-costs';
import type { RateLimit } from '../src/rate-limit/limit';
import { createRateLimiter } from '../src/rate-limit/limiter';
import { ScaffoldingCache } from '../src/db/scaffolding';
import type { ConversationGenerator } from '../src/generation';
import type { ItemMetricsRecorder } from '../src/metrics/item-metrics';
import type { BatchProvider } from '../src/generation/batch/provider-batch';
import type { ControlActivities, ItemActivities, ProviderBatchActivities, ProviderBatchSettings } from '../workflows/contract';
import { createProviderBatchActivities } from './provider-batches';
import type { ItemChainDeps } from './process-item';
import { JobCancellations } from './job-cancels';
import { processLane } from './process-lane';

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
  /** How long an item activity waits out an unreachable database (INFRA_OUTAGE_BUDGET_MS; default 6 hours). */
  infraOutageBudgetMs?: number;
  /**
   * The generator's batch API and how provider-batch jobs use it (PROVIDER_BATCH_*). Absent: provider-batch jobs
   * run direct on this worker (loadJob says so), as a job of a generator without a batch API would.
   */
  providerBatch?: {
    provider: BatchProvider;
    chunkSize: number;
    fallbackAfterMs: number;
    settings: Omit<ProviderBatchSettings, 'historyLimit'> & { historyLimit?: number };
  };
}

/** Defaults of the provider-batch settings the workflow runs by. */
const PROVIDER_BATCH_HISTORY_LIMIT = 5000;

/** Refuses provider-batch activities on a worker without a batch provider (loadJob never sends a job there). */
function noProviderBatches(): ProviderBatchActivities {
  const refuse = () =>
    Promise.reject(ApplicationFailure.nonRetryable('this worker has no provider batch API configured', 'NO_BATCH_PROVIDER'));
  return { submitChunk: refuse, pollChunks: refuse, cancelChunks: () => Promise.resolve({ cancelled: 0 }) };
}

/**
 * Builds the activities with their dependencies injected
 * (samples-typescript `activities-dependency-injection`). All I/O of a batch
 * lives here; the workflow only decides.
 */
export function createActivities(deps: ActivityDeps): BatchActivities {
  const { db, generator } = deps;
  // One per worker: it keeps the worker's estimate of the database clock (see createRateLimiter).
  const rateLimiter = deps.rateLimit && createRateLimiter(db, deps.rateLimit);
  const scaffolding = deps.scaffolding ?? new ScaffoldingCache(db);
  const { itemMetrics } = deps;
  // What every item chain gets (a lane hands it to each of its items).
  const chainDeps: ItemChainDeps = { db, generator, scaffolding, rateLimiter, itemMetrics };
  // This worker's running lanes by job: a job's cancel, heard by one of them, reaches all of them at once.
  const jobCancels = new JobCancellations();
  const batches = deps.providerBatch;
  const providerBatchActivities = batches
    ? createProviderBatchActivities({
        db,
        provider: batches.provider,
        scaffolding,
        chunkSize: batches.chunkSize,
        fallbackAfterMs: batches.fallbackAfterMs,
        maxInvalidOutputAttempts: deps.maxInvalidOutputAttempts ?? DEFAULTS.maxInvalidOutputAttempts,
        infraOutageBudgetMs: deps.infraOutageBudgetMs ?? DEFAULTS.infraOutageBudgetMs,
        itemMetrics,
      })
    : noProviderBatches();
  return {
    ...providerBatchActivities,
    async loadJob(jobId) {
      const [job, cost] = await Promise.all([findJob(db, jobId), getJobCost(db, jobId)]);
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
        maxCostUsd: job.max_cost_usd === null ? null : Number(job.max_cost_usd),
        spentUsd: cost.costUsd,
        executionMode: job.execution_mode ?? 'direct',
        ...(job.execution_mode === 'provider-batch' && batches
          ? { providerBatch: { historyLimit: PROVIDER_BATCH_HISTORY_LIMIT, ...batches.settings } }
          : {}),
      };
    },

    async fetchItemPage(input) {
      return pageQueuedItems(db, input.jobId, input.afterPosition, input.limit);
    },

    /** See `processLane`. */
    async processLane(input) {
      return processLane(
        { ...chainDeps, infraOutageBudgetMs: deps.infraOutageBudgetMs ?? DEFAULTS.infraOutageBudgetMs, jobCancels },
        {
          ...input,
          maxInvalidOutputAttempts: input.maxInvalidOutputAttempts ?? deps.maxInvalidOutputAttempts,
        },
      );
    },

    /** `failMessage`: the workflow gave up on the lane (its retries ran out): the item it was running fails with it. */
    async settleItems(input) {
      const { outcomes, failedNow } = await settleItems(db, input.itemIds, input.failMessage);
      // The items this call failed (none when the activity runs again) ended here: count them.
      for (let i = 0; i < failedNow; i++) itemMetrics?.recordItem('failed');
      return outcomes;
    },

    async syncJob(input) {
      await updateJob(db, input.jobId, input.patch);
    },

    async writeCheckpoint(input) {
      await writeCheckpoint(db, input);
    },

    /** Ends the job in one transaction (`finalize_batch_job`): open items cancelled, the final row, the 'finish' checkpoint. */
    async finalizeJob({ jobId, ...end }) {
      return { cancelled: await finalizeJobRow(db, jobId, end) };
    },
  };
}

/** Every activity the worker registers: what the workflow's contract asks for (`workflows/contract.ts`). */
export type BatchActivities = ControlActivities & ItemActivities & ProviderBatchActivities;
