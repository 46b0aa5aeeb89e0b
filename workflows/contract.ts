/**
 * What the batch workflow and its activities agree on: the workflow's input and result, and the
 * activities it calls, by role. The workflow owns this contract; `activities/` implements it
 * (`createActivities` is checked against these interfaces), so workflow code imports nothing of
 * the I/O side, not even its types.
 */
import type { ErrorHandling, ExecutionMode, JobStatus, Tier } from '../src/domain/enums';
import type { ItemOutcome, ItemRef } from '../src/domain/items';
import type { CheckpointInput, JobEnd, JobPatch } from '../src/domain/job-writes';

export type { ItemOutcome, ItemRef } from '../src/domain/items';

/** Counters carried across continue-as-new: absolute, never increments. */
export interface BatchCounters {
  successful: number;
  failed: number;
}

/** Tuning knobs; defaults (`DEFAULT_RUN_OPTIONS`) suit production, tests make them small. */
export interface BatchRunOptions {
  /** Items fetched per page (default 100; with pages sized by the window, 100 to 1,000 by the window: see `BatchState.pageSize`). */
  pageSize?: number;
  /** New items taken per run before continue-as-new (default 5000; `lanesPerRun` usually ends a run first). */
  itemsPerRun?: number;
  /** Lane activities per run before continue-as-new (default 500): what bounds the history. */
  lanesPerRun?: number;
  /** Minimum time between two counter writes to the job row (default 1000 ms). */
  progressIntervalMs?: number;
  /** Attempts of one item's chain for transient failures (default 5). */
  maxItemAttempts?: number;
  /** Most items one activity (a lane) may carry (default 25; 1 = one activity per item). */
  maxLaneSize?: number;
  /** Lanes of fast items are sized to last about this long (default 4000 ms): see `BatchState.laneSize`. */
  laneTargetMs?: number;
  /**
   * With lanes sized by the window (`patched('lanes-by-window')`), a lane lasts at least this long per slot of
   * the window (default 100 ms; at most `maxLaneMs` in all): a job starts about 1000 / this many lanes a second
   * at any concurrency.
   */
  laneMsPerSlot?: number;
  /** Longest a lane is sized to last (default 20,000 ms). */
  maxLaneMs?: number;
  /**
   * With lanes sized by the window: history events a run is planned to (default 3,500, under the 4,096 at which
   * Temporal suggests continue-as-new; 8,000 with runs planned by their history, which no longer take that
   * suggestion), so its last lanes shrink before it ends; see `BatchState.runIsFull`.
   */
  eventsPerRun?: number;
  /**
   * With runs planned by their history (`patched('runs-by-history')`): history bytes a run is planned to (default
   * 4 MiB, where Temporal suggests continue-as-new by size; a worker holds more the longer its runs), besides
   * `eventsPerRun`; see `BatchState.runBudgetUsed`.
   */
  bytesPerRun?: number;
}

/** State carried across continue-as-new besides cursor and counters. */
export interface CarriedState {
  paused: boolean;
  /** The concurrency an operator set (undefined: the job row's). */
  concurrency?: number;
  /** Active (unpaused) time so far, for the ETA. */
  activeMs: number;
  /** This run's number, from 1. */
  run: number;
  /** Workflow time of the first dispatch. */
  startedAt?: number;
  /** How long one item takes in a lane (moving average), for lane sizing. */
  itemMs?: number;
  /** A provider-batch job whose chunks are all in (nothing left to submit, none out): later runs only go direct. */
  providerBatchesDone?: boolean;
}

/**
 * Input of the batch workflow: small by design. Items live in the database
 * and are paged by position; only the cursor and counters travel.
 */
export interface BatchWorkflowInput {
  jobId: string;
  /** Every item at or below this position has ended (set on continue-as-new). */
  cursor?: number;
  counters?: BatchCounters;
  /** State an operator set, carried across continue-as-new. */
  carried?: CarriedState;
  options?: BatchRunOptions;
}

/** The workflow's result, also its final status. */
export interface BatchResult {
  jobId: string;
  status: 'completed' | 'failed' | 'cancelled';
  successful: number;
  failed: number;
  cancelled: number;
  errorMessage?: string;
}

/** The job settings the workflow runs by (read from the job row at the start of each run). */
export interface JobSettings {
  name: string;
  status: JobStatus;
  tier: Tier;
  totalItems: number;
  concurrency: number;
  errorHandling: ErrorHandling;
  toleratedFailurePercent: number | null;
  /** USD: the spend cap (null: none); the workflow pauses the job once `spentUsd` reaches it. */
  maxCostUsd: number | null;
  /** USD the job's conversations had cost when the run started (earlier runs, retries). */
  spentUsd: number;
  /** Absent (runs recorded before the mode existed): 'direct'. */
  executionMode?: ExecutionMode;
  /** The worker's provider-batch settings, for a provider-batch job. */
  providerBatch?: ProviderBatchSettings;
}

/** How a provider-batch job chunks, polls and falls back (`PROVIDER_BATCH_*` of the worker). */
export interface ProviderBatchSettings {
  /** Most provider batches of the job out at once. */
  maxChunksOut: number;
  /** Poll back-off: the first wait after a submission or a change, doubling while nothing moves, up to the max. */
  pollMinMs: number;
  pollMaxMs: number;
  /** History events after which a run continues-as-new (the polling loop's share of the bound). */
  historyLimit: number;
}

/** Input of `submitChunk`: the chunk's key is the workflow's (run id and number), so a retried activity finds its own chunk. */
export interface SubmitChunkInput {
  jobId: string;
  chunkKey: string;
}

/**
 * What `submitChunk` did: `submitted` (the chunk is out, `items` in it; `failed` items failed before it went, e.g. a
 * missing placeholder), `empty` (no queued item may go to the provider now: none left, or all past the fallback
 * deadline), `held` (the job row may not start items: paused, stopping), `refused` (the provider refused the chunk for
 * good; its items go direct at once, `message` says why).
 */
export interface SubmitChunkResult {
  outcome: 'submitted' | 'empty' | 'held' | 'refused';
  items: number;
  failed: number;
  message?: string;
}

/** What `pollChunks` found: the chunks still out, what it ingested, and the job's counters as the database has them. */
export interface PollChunksResult {
  /** Chunks still out (preparing or submitted). */
  open: number;
  /** Requests the provider has not finished, over the open chunks. */
  pendingRequests: number;
  /** Chunks whose results this call ingested. */
  ingested: number;
  /** Items given back to the queue (expired, cancelled, errored lines; invalid output under the attempt limit). */
  requeued: number;
  /** True when any open chunk's counts moved since the last poll (the back-off restarts). */
  moved: boolean;
  /** The job's items completed and failed (absolute), and USD spent, as the database has them now. */
  successful: number;
  failed: number;
  spentUsd: number;
  /** The message of the first item this call failed, for a stop policy's reason. */
  firstFailure?: { position: number; message: string };
}

/** Input of `fetchItemPage`. */
export interface FetchItemPageInput {
  jobId: string;
  afterPosition: number;
  limit: number;
}

/** Input of `settleItems`: the items of lanes the workflow gave up on (`failMessage`) or cancelled. */
export interface SettleItemsInput {
  itemIds: string[];
  failMessage?: string;
}

/** Input of `syncJob`: the job row's status, counters and ETA as absolute values. */
export interface SyncJobInput {
  jobId: string;
  patch: JobPatch;
}

/** Input of `finalizeJob`: the job's end, written once the workflow is done. */
export interface FinalizeJobInput extends JobEnd {
  jobId: string;
}

/** How an item ended, as the workflow counts it. */
export interface ProcessItemResult {
  outcome: 'completed' | 'failed' | 'cancelled';
  position: number;
  conversationId?: string;
  errorMessage?: string;
  /** USD the item's conversation cost (a completed item this attempt generated). */
  costUsd?: number;
}

/** Input of a lane: a few items of one job, ids only, run in this order. */
export interface ProcessLaneInput {
  jobId: string;
  itemIds: string[];
  /** End the lane right after an item fails, so the workflow hears of it at once (its error policy may stop the job). */
  stopAfterFailure?: boolean;
  /** Attempts whose output fails the schema before an item fails (default 3). */
  maxInvalidOutputAttempts?: number;
}

/**
 * What a lane did: the outcome of each item it ended, the items it held (did not start, in input
 * order: the job may not start items now, or the lane stopped early; the workflow sends them out
 * again first), and how long its items took.
 */
export interface ProcessLaneResult {
  results: Array<ProcessItemResult & { id: string }>;
  held: string[];
  /** How many items this attempt ran (items found ended are not counted) and how long it took: the workflow sizes lanes by it. */
  ran: number;
  elapsedMs: number;
}

/** Activities that read and write the job: quick, retried until they succeed. */
export interface ControlActivities {
  /** Reads the job's settings at the start of each run. */
  loadJob(jobId: string): Promise<JobSettings>;
  /** The next page of queued items by position: ids and positions only. */
  fetchItemPage(input: FetchItemPageInput): Promise<ItemRef[]>;
  /** Where the items of lanes the workflow gave up on or cancelled stand (which ended and how, which never started). */
  settleItems(input: SettleItemsInput): Promise<ItemOutcome[]>;
  /** Writes status, counters and ETA onto the job row. */
  syncJob(input: SyncJobInput): Promise<void>;
  /** Appends a checkpoint (continue-as-new and pause). */
  writeCheckpoint(input: CheckpointInput): Promise<void>;
  /** Ends the job: cancels what has not ended, writes the final row and the 'finish' checkpoint. */
  finalizeJob(input: FinalizeJobInput): Promise<{ cancelled: number }>;
}

/** Activities of the provider-batch mode: submit a chunk, poll and ingest, cancel what is out. Retried until they succeed. */
export interface ProviderBatchActivities {
  submitChunk(input: SubmitChunkInput): Promise<SubmitChunkResult>;
  pollChunks(jobId: string): Promise<PollChunksResult>;
  /** Cancels the job's provider batches still out (their items are cancelled by `finalizeJob`). */
  cancelChunks(jobId: string): Promise<{ cancelled: number }>;
}

/** Activities that run items: long, heartbeating, cancellable, retried a bounded number of times. */
export interface ItemActivities {
  /** A lane: items of a job one after another, each through its own chain. */
  processLane(input: ProcessLaneInput): Promise<ProcessLaneResult>;
}
