import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BatchActivities, ItemOutcome, JobSettings, ProcessItemResult } from '../activities';
import type { ItemRef } from '../src/db/items';
import type { JobStatus } from '../src/domain/enums';
import {
  cancelSignal,
  MAX_CONCURRENCY,
  pauseSignal,
  progressQuery,
  resumeSignal,
  setConcurrencySignal,
  type BatchProgress,
} from './messages';
import { BatchStatusKey, BatchTierKey } from '../src/temporal/search-attributes';

export * from './messages';

/** Counters carried across continue-as-new: absolute, never increments. */
export interface BatchCounters {
  successful: number;
  failed: number;
}

/** Tuning knobs; defaults suit production, tests make them small. */
export interface BatchRunOptions {
  /** Items fetched per page (default 100). */
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
  /** Lanes of fast items are sized to last about this long (default 4000 ms): see `laneSize`. */
  laneTargetMs?: number;
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
  carried?: { paused: boolean; concurrency?: number; activeMs: number; run: number; startedAt?: number; itemMs?: number };
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


const control = proxyActivities<BatchActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

/**
 * One batch job: pages its items from the database and runs each through
 * the item chain with at most `concurrent_processing` in flight, mirrors
 * status and counters into `batch_jobs`, and continues-as-new every
 * `itemsPerRun` items to keep its history bounded.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchResult> {
  const { jobId } = input;
  assertJobId(jobId);
  const opts = {
    pageSize: input.options?.pageSize ?? 100,
    itemsPerRun: input.options?.itemsPerRun ?? 5000,
    lanesPerRun: input.options?.lanesPerRun ?? 500,
    progressIntervalMs: input.options?.progressIntervalMs ?? 1000,
    maxItemAttempts: input.options?.maxItemAttempts ?? 5,
    maxLaneSize: input.options?.maxLaneSize ?? 25,
    laneTargetMs: input.options?.laneTargetMs ?? 4000,
  };
  const items = proxyActivities<BatchActivities>({
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '10 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: opts.maxItemAttempts },
  });

  // Filled by loadJob below; handlers are registered first so no signal or query finds the workflow without them.
  const job: JobSettings = {
    name: '',
    status: 'queued',
    tier: 'template',
    totalItems: 0,
    concurrency: 1,
    errorHandling: 'continue',
    toleratedFailurePercent: null,
  };
  const run = input.carried?.run ?? 1;
  const counters: BatchCounters = { ...(input.counters ?? { successful: 0, failed: 0 }) };
  let cursor = input.cursor ?? 0;
  let paused = input.carried?.paused ?? false;
  let concurrency: number | undefined = input.carried?.concurrency;
  // Lanes running: each runs one item at a time, so this is also the items in flight.
  let inFlight = 0;
  let cancelRequested = false;
  let stopReason: string | undefined;
  // Set once the final status is being written: later signals must not write over it.
  let ending = false;
  // Workflow time of the first dispatch, written as started_at by every sync (so it is set once).
  let startedAt = input.carried?.startedAt;
  let status: JobStatus = paused ? 'paused' : startedAt === undefined ? 'queued' : 'processing';
  // Active (unpaused) time across runs, for the ETA.
  let activeMs = input.carried?.activeMs ?? 0;
  let activeSince: number | undefined = status === 'processing' ? Date.now() : undefined;
  // How long one item takes in a lane (moving average of lane results).
  let itemMs = input.carried?.itemMs;
  // Items lanes handed back unstarted (a pause or stop reached them, or a retried lane ran only its failed item), by position: they go out first.
  const returned: ItemRef[] = [];
  // New items taken from pages, and lanes started, in this run.
  let takenThisRun = 0;
  let lanesThisRun = 0;
  const windowSize = () => concurrency ?? job.concurrency;
  /**
   * Items per lane. Slow items (over laneTargetMs / 2: every LLM call) go one per activity, as the
   * design has it. Fast ones share a lane that lasts about `laneTargetMs`: the Temporal server and
   * worker pay per activity, not per item, and a lane runs its items one after another, so it never
   * waits for a neighbour. Near the end of a run or of the job, lanes shrink to what is left over
   * the window (guided self-scheduling), so the last lanes end together and no slot idles through a
   * long tail. 1 until the first results tell how long items take.
   */
  const laneSize = () => {
    if (itemMs === undefined) return 1;
    const target = Math.max(1, Math.min(opts.maxLaneSize, Math.floor(opts.laneTargetMs / Math.max(itemMs, 1))));
    const left = returned.length + Math.max(0, Math.min(opts.itemsPerRun - takenThisRun, job.totalItems - cursor));
    return Math.max(1, Math.min(target, Math.ceil(left / windowSize())));
  };
  /** Every item at or below this position has ended or is in flight; the next run pages from here. */
  const resumeCursor = () => (returned.length === 0 ? cursor : Math.min(cursor, returned[0]!.position - 1));
  const giveBack = (refs: ItemRef[]) => {
    returned.push(...refs);
    returned.sort((a, b) => a.position - b.position);
  };

  const processed = () => counters.successful + counters.failed;
  const elapsedActive = () => activeMs + (activeSince === undefined ? 0 : Date.now() - activeSince);
  const etaSeconds = (): number | null => {
    const done = processed();
    if (done === 0 || status === 'paused') return null;
    const remaining = Math.max(0, job.totalItems - done);
    return Math.round(((elapsedActive() / done) * remaining) / 1000);
  };
  const progress = (): BatchProgress => ({
    jobId,
    status,
    totalItems: job.totalItems,
    successful: counters.successful,
    failed: counters.failed,
    processed: processed(),
    inFlight,
    concurrency: windowSize(),
    etaSeconds: etaSeconds(),
    cursor: resumeCursor(),
    run,
  });

  // Job-row writes: one at a time, each carrying the latest absolute state.
  let syncing = false;
  let syncAgain = false;
  let lastSyncAt = 0;
  // The status the job row shows (the last write that landed): lanes start items only while it lets them (claim_batch_item).
  let rowStatus: JobStatus | undefined;
  const sync = async (): Promise<void> => {
    if (syncing) {
      syncAgain = true;
      return;
    }
    syncing = true;
    try {
      do {
        syncAgain = false;
        lastSyncAt = Date.now();
        const p = progress();
        const patch = {
          status: p.status,
          successful_items: p.successful,
          failed_items: p.failed,
          completed_items: p.processed,
          ...(concurrency === undefined ? {} : { concurrent_processing: concurrency }),
          estimated_time_remaining: p.etaSeconds,
          ...(startedAt === undefined ? {} : { started_at: new Date(startedAt).toISOString() }),
          // The stop reason, once there is one: every lane's next claim sees it and starts nothing more.
          ...(stopReason === undefined ? {} : { error_message: stopReason }),
        };
        // Job-row writes must land even while the dispatch is being cancelled.
        await CancellationScope.nonCancellable(() => control.syncJob({ jobId, patch }));
        rowStatus = patch.status;
      } while (syncAgain);
    } finally {
      syncing = false;
    }
  };
  // Counter writes at a bounded rate; always when the window empties (end of run, drained pause).
  const syncSoon = () => {
    if (inFlight === 0 || (!syncing && Date.now() - lastSyncAt >= opts.progressIntervalMs)) void sync();
  };
  const checkpoint = (reason: 'pause' | 'continue_as_new') =>
    CancellationScope.nonCancellable(() =>
      control.writeCheckpoint({ jobId, runId: workflowInfo().runId, cursorPosition: resumeCursor(), counters: { ...counters }, reason }),
    );
  const setStatus = (next: JobStatus) => {
    if (status === next) return;
    if (next === 'processing') activeSince ??= Date.now();
    if (next === 'paused' && activeSince !== undefined) {
      activeMs += Date.now() - activeSince;
      activeSince = undefined;
    }
    status = next;
    upsertSearchAttributes([{ key: BatchStatusKey, value: next }]);
  };
  const describe = () =>
    setCurrentDetails(
      `**${status}**: ${processed()}/${job.totalItems} processed (${counters.successful} ok, ${counters.failed} failed), ` +
        `${inFlight} in flight, concurrency ${concurrency}, run ${run}`,
    );

  setHandler(progressQuery, progress);
  setHandler(pauseSignal, () => {
    if (ending || cancelRequested || stopReason || paused) return;
    paused = true;
    setStatus('paused');
    describe();
    void sync();
    void checkpoint('pause');
  });
  setHandler(resumeSignal, () => {
    if (ending || cancelRequested || stopReason || !paused) return;
    paused = false;
    setStatus(startedAt === undefined ? 'queued' : 'processing');
    void sync();
  });
  const dispatchScope = new CancellationScope();
  setHandler(cancelSignal, () => {
    if (ending || cancelRequested) return;
    cancelRequested = true;
    dispatchScope.cancel();
  });
  setHandler(setConcurrencySignal, ({ concurrency: next }) => {
    if (ending || !Number.isInteger(next) || next < 1 || next > MAX_CONCURRENCY) return;
    concurrency = next;
    void sync();
  });

  Object.assign(job, await control.loadJob(jobId));
  rowStatus = job.status;
  concurrency ??= job.concurrency;
  upsertSearchAttributes([
    { key: BatchTierKey, value: job.tier },
    { key: BatchStatusKey, value: status },
  ]);
  if (job.status === 'completed' || job.status === 'failed' || job.status === 'cancelled') {
    // The row already ended (e.g. a duplicate start): nothing to do.
    return { jobId, status: job.status, successful: counters.successful, failed: counters.failed, cancelled: 0 };
  }
  // Lanes wait for the row to show what the workflow says (see canStart): make it so.
  if (rowStatus !== status) void sync();
  // With a stop policy a lane ends at its first failure, so the workflow decides at once whether the job stops.
  const stopAfterFailure = job.errorHandling === 'stop' || (job.toleratedFailurePercent !== null && job.toleratedFailurePercent < 100);
  /** Lanes may start: not paused, and the row no longer says paused (a lane's claim would refuse). */
  const canStart = () => !paused && rowStatus !== 'paused';

  const onItemEnded = (result: ProcessItemResult) => {
    if (result.outcome === 'completed') counters.successful++;
    else if (result.outcome === 'failed') {
      counters.failed++;
      if (!stopReason && job.errorHandling === 'stop') {
        stopReason = `error handling 'stop': item ${result.position} failed: ${result.errorMessage ?? 'unknown error'}`;
        void sync();
      } else if (!stopReason && job.toleratedFailurePercent !== null && counters.failed * 100 > job.toleratedFailurePercent * job.totalItems) {
        stopReason = `failures exceeded the tolerated ${job.toleratedFailurePercent}% (${counters.failed} of ${job.totalItems} items failed)`;
        void sync();
      }
    }
  };

  const countOutcome = (ref: { position: number }, outcome: ItemOutcome | undefined) => {
    if (outcome?.status === 'completed') onItemEnded({ outcome: 'completed', position: ref.position });
    else if (outcome?.status === 'failed') onItemEnded({ outcome: 'failed', position: ref.position, errorMessage: outcome.error_message ?? undefined });
  };
  /** Where `refs` stand in the database, by id (`failMessage`: fail the one a lane was running first). */
  const settle = async (refs: ItemRef[], failMessage?: string) => {
    const outcomes = await CancellationScope.nonCancellable(() => control.settleItems({ itemIds: refs.map((r) => r.id), failMessage }));
    return new Map(outcomes.map((o) => [o.id, o]));
  };
  // Items of cancelled lanes: settled together once the window is empty (one activity, not one per lane).
  const cancelledItems: ItemRef[] = [];
  const runLane = async (refs: ItemRef[]): Promise<void> => {
    const byId = new Map(refs.map((r) => [r.id, r]));
    try {
      const { results, held, ran, elapsedMs } = await items.processLane({ jobId, itemIds: refs.map((r) => r.id), stopAfterFailure });
      if (ran > 0) itemMs = itemMs === undefined ? elapsedMs / ran : 0.7 * itemMs + (0.3 * elapsedMs) / ran;
      for (const result of results) onItemEnded(result);
      giveBack(held.map((id) => byId.get(id)!));
    } catch (err) {
      if (isCancellation(err)) {
        // A cancelled one-item lane ended nothing; a longer one may have finished some items: counted after the window empties.
        if (refs.length > 1) cancelledItems.push(...refs);
      } else {
        // Retries ran out: fail the item the lane was running, count what it had finished, send out what it never started.
        const failMessage = `gave up after ${opts.maxItemAttempts} attempts: ${rootMessage(err)}`;
        const outcomeById = await settle(refs, failMessage);
        for (const ref of refs) {
          const outcome = outcomeById.get(ref.id);
          if (outcome?.status === 'queued') giveBack([ref]);
          // An item whose row vanished still counts once, as failed.
          else countOutcome(ref, outcome ?? { id: ref.id, position: ref.position, status: 'failed', error_message: failMessage });
        }
      }
    } finally {
      inFlight--;
      describe();
      syncSoon();
    }
  };

  let page: ItemRef[] = [];
  let pageIndex = 0;
  let exhausted = false;
  // The next page, asked for once half of the current one is taken, so lanes never wait for a page.
  let nextPage: Promise<ItemRef[]> | undefined;
  const fetchPage = (afterPosition: number) => {
    const fetched = control.fetchItemPage({ jobId, afterPosition, limit: opts.pageSize });
    // Awaited by nextItem, or dropped when the run ends first (a cancel rejects it): never an unhandled rejection.
    fetched.catch(() => undefined);
    return fetched;
  };
  const nextItem = async () => {
    if (pageIndex >= page.length && !exhausted) {
      page = await (nextPage ?? fetchPage(cursor));
      nextPage = undefined;
      pageIndex = 0;
      exhausted = page.length < opts.pageSize;
    }
    if (!exhausted && nextPage === undefined && pageIndex >= page.length / 2) nextPage = fetchPage(page[page.length - 1]!.position);
    return page[pageIndex++];
  };

  /** Up to `want` items for a lane: handed-back ones first, then new ones from the pages. */
  const takeItems = async (want: number): Promise<ItemRef[]> => {
    const refs = returned.splice(0, want);
    while (refs.length < want) {
      const ref = await nextItem();
      if (!ref) break;
      refs.push(ref);
      // At once, not per lane: the next page is fetched after the cursor.
      cursor = ref.position;
      takenThisRun++;
    }
    return refs;
  };

  let continueRun = false;
  let nativeCancel: unknown;
  try {
    await dispatchScope.run(async () => {
      for (;;) {
        await condition(() => cancelRequested || stopReason !== undefined || (canStart() && inFlight < windowSize()));
        if (cancelRequested || stopReason) break;
        if (takenThisRun >= opts.itemsPerRun || lanesThisRun >= opts.lanesPerRun || workflowInfo().continueAsNewSuggested) {
          continueRun = true;
          break;
        }
        const refs = await takeItems(laneSize());
        if (refs.length === 0) {
          if (inFlight === 0) break;
          // Running lanes may still hand items back (a pause reached them): wait for them, then look again.
          await condition(() => cancelRequested || stopReason !== undefined || inFlight === 0 || returned.length > 0);
          continue;
        }
        if (startedAt === undefined) {
          startedAt = Date.now();
          setStatus('processing');
          void sync();
        }
        inFlight++;
        lanesThisRun++;
        void runLane(refs);
      }
      await condition(() => inFlight === 0);
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    if (!cancelRequested) nativeCancel = err;
    cancelRequested = true;
  }
  // Cancelled items settle once their activities confirm the cancellation.
  await CancellationScope.nonCancellable(() => condition(() => inFlight === 0 && !syncing));
  if (cancelledItems.length > 0) {
    const outcomeById = await settle(cancelledItems);
    for (const ref of cancelledItems) countOutcome(ref, outcomeById.get(ref.id));
  }
  // A page asked for ahead of time is not needed any more; let it finish so no activity outlives the run.
  await nextPage?.then(
    () => undefined,
    () => undefined,
  );

  if (continueRun && !cancelRequested && !stopReason) {
    await checkpoint('continue_as_new');
    await sync();
    if (activeSince !== undefined) activeMs += Date.now() - activeSince;
    return continueAsNew<typeof batchWorkflow>({
      jobId,
      // Items lanes handed back while the run drained are at or below the cursor: the next run pages them again.
      cursor: resumeCursor(),
      counters,
      carried: { paused, concurrency, activeMs, run: run + 1, startedAt, itemMs },
      options: input.options,
    });
  }

  let finalStatus: BatchResult['status'];
  let errorMessage: string | undefined;
  if (cancelRequested) {
    finalStatus = 'cancelled';
  } else if (stopReason) {
    finalStatus = 'failed';
    errorMessage = stopReason;
  } else if (processed() > 0 && counters.failed === processed()) {
    finalStatus = 'failed';
    errorMessage = `every item failed (${counters.failed} of ${job.totalItems})`;
  } else {
    finalStatus = 'completed';
  }
  ending = true;
  await CancellationScope.nonCancellable(() => condition(() => !syncing));
  const { cancelled } = await CancellationScope.nonCancellable(() =>
    control.finalizeJob({
      jobId,
      status: finalStatus,
      successful: counters.successful,
      failed: counters.failed,
      errorMessage,
      checkpoint: { runId: workflowInfo().runId, cursorPosition: resumeCursor(), counters: { ...counters } },
    }),
  );
  setStatus(finalStatus);
  describe();
  // A native cancellation (`temporal workflow cancel`) ends the run as Canceled in Temporal too.
  if (nativeCancel) throw nativeCancel;
  return { jobId, status: finalStatus, successful: counters.successful, failed: counters.failed, cancelled, errorMessage };
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}

/** Rejects bad workflow input before any I/O. */
export function assertJobId(jobId: unknown): asserts jobId is string {
  if (typeof jobId !== 'string' || !/^[0-9a-f-]{36}$/i.test(jobId)) {
    throw ApplicationFailure.nonRetryable(`jobId must be a uuid, got '${String(jobId)}'`, 'InvalidInput');
  }
}
