import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { fetchItemPage, finalizeJob, itemActivities, loadJob, syncJob, writeCheckpoint } from './activity-proxies';
import { BatchState } from './batch-state';
import type { BatchResult, BatchWorkflowInput } from './contract';
import { ItemPager } from './item-pager';
import { JobRowWriter } from './job-row-writer';
import { Lanes, takeItems } from './lanes';
import { cancelOpenChunks, runProviderPhase } from './provider-batches';
import { cancelSignal, pauseSignal, progressQuery, resumeSignal, setConcurrencySignal, setSpendCapSignal } from './messages';
import { BatchStatusKey, BatchTierKey } from './search-attributes';

/**
 * One batch job: pages its items from the database and runs them in lanes (one activity per
 * window slot) with at most `concurrent_processing` in flight, mirrors status and counters into
 * `batch_jobs`, and continues-as-new every run's share of items to keep its history bounded.
 * What it knows and decides is `BatchState`; this function wires it to Temporal: handlers, the
 * dispatch loop, the end. See docs/architecture.md.
 */
export async function batchWorkflow(input: BatchWorkflowInput): Promise<BatchResult> {
  assertJobId(input.jobId);
  const state = new BatchState(input, {
    now: Date.now,
    historyLength: () => workflowInfo().historyLength,
    historyBytes: () => workflowInfo().historySize,
    onStatus: (s) => upsertSearchAttributes([{ key: BatchStatusKey, value: s }]),
  });
  const { jobId, opts, counters } = state;
  const { processLane } = itemActivities(opts.maxItemAttempts);
  // Job-row writes must land even while the dispatch is being cancelled.
  const writer = new JobRowWriter(
    (patch) => CancellationScope.nonCancellable(() => syncJob({ jobId, patch })),
    () => state.jobPatch(),
    Date.now,
    opts.progressIntervalMs,
  );
  const sync = () => void writer.sync();
  const describe = () => setCurrentDetails(state.details());
  const checkpoint = (reason: 'pause' | 'continue_as_new') =>
    CancellationScope.nonCancellable(() =>
      writeCheckpoint({ jobId, runId: workflowInfo().runId, cursorPosition: state.resumeCursor(), counters: { ...counters }, reason }),
    );
  const dispatchScope = new CancellationScope();
  const paused = () => {
    describe();
    sync();
    void checkpoint('pause');
  };
  const pauseAtSpendCap = () => {
    if (state.pauseAtSpendCap()) paused();
  };

  // Registered before the first await, so no signal or query finds the workflow without them.
  setHandler(progressQuery, () => state.progress());
  setHandler(pauseSignal, () => {
    if (state.pause()) paused();
  });
  setHandler(resumeSignal, () => {
    if (state.resume()) sync();
  });
  setHandler(cancelSignal, () => {
    if (state.cancel()) dispatchScope.cancel();
  });
  setHandler(setConcurrencySignal, ({ concurrency }) => {
    if (state.setConcurrency(concurrency)) sync();
  });
  setHandler(setSpendCapSignal, ({ maxCostUsd }) => {
    if (state.setSpendCap(maxCostUsd)) pauseAtSpendCap();
  });

  state.loaded(await loadJob(jobId));
  // Runs recorded before the spend cap replay without it (no marker in their history).
  state.spendCapOn = patched('spend-cap');
  // Runs recorded before lanes were sized by the window replay with lanes of `laneTargetMs`.
  if (patched('lanes-by-window')) state.sizeLanesByWindow();
  // Runs recorded before pages were sized by the window replay with pages of `opts.pageSize`.
  state.pagesByWindow = patched('pages-by-window');
  // Runs recorded before runs were planned by their history replay with the older run lengths.
  if (patched('runs-by-history')) state.planRunsByHistory();
  writer.rowStatus = state.job.status;
  upsertSearchAttributes([
    { key: BatchTierKey, value: state.job.tier },
    { key: BatchStatusKey, value: state.status },
  ]);
  if (state.jobEnded) {
    // The row already ended (e.g. a duplicate start): nothing to do.
    return {
      jobId,
      status: state.job.status as BatchResult['status'],
      successful: counters.successful,
      failed: counters.failed,
      cancelled: 0,
    };
  }
  // A run that starts over the cap (a continue-as-new, a retry) pauses before it dispatches.
  pauseAtSpendCap();
  // Lanes wait for the row to show what the workflow says (see canStart): make it so.
  if (writer.rowStatus !== state.status) sync();

  const lanes = new Lanes(state, writer, processLane, pauseAtSpendCap);
  const pager = new ItemPager(
    (afterPosition, limit) => fetchItemPage({ jobId, afterPosition, limit }),
    () => state.pageSize(),
  );

  let continueRun = false;
  let nativeCancel: unknown;
  try {
    await dispatchScope.run(async () => {
      // A provider-batch job sends its items to the provider's batch API first; what is left queued (past the
      // fallback deadline, refused by the provider) goes direct below. Jobs of older releases never take this path.
      if (state.inProviderBatchPhase && patched('provider-batch')) {
        const end = await runProviderPhase({ state, writer, afterPoll: pauseAtSpendCap });
        if (end === 'continue-as-new') {
          continueRun = true;
          return;
        }
        if (end === 'done') state.providerBatchesDone = true;
      }
      for (;;) {
        await condition(() => state.halted || (state.canStart(writer.rowStatus) && state.inFlight < state.windowSize()));
        if (state.halted) break;
        if (state.runIsFull(workflowInfo().continueAsNewSuggested)) {
          continueRun = true;
          break;
        }
        const refs = await takeItems(state, pager, state.laneSize());
        if (refs.length === 0) {
          if (state.inFlight === 0) break;
          // Running lanes may still hold items (a pause reached them): wait for them, then look again.
          await condition(() => state.halted || state.inFlight === 0 || state.held.length > 0);
          continue;
        }
        if (state.laneStarting()) sync();
        void lanes.run(refs);
      }
      await condition(() => state.inFlight === 0);
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
    if (!state.cancelRequested) nativeCancel = err;
    state.cancelRequested = true;
  }
  // Cancelled items settle once their activities confirm the cancellation.
  await CancellationScope.nonCancellable(() => condition(() => state.inFlight === 0 && writer.idle));
  await lanes.settleCancelled();
  if (state.cancelRequested) await cancelOpenChunks(state);
  await pager.drain();

  if (continueRun && !state.halted) {
    await checkpoint('continue_as_new');
    await writer.sync();
    return continueAsNew<typeof batchWorkflow>(state.nextRunInput(input.options));
  }

  const { status, errorMessage } = state.finalStatus();
  state.ending = true;
  await CancellationScope.nonCancellable(() => condition(() => writer.idle));
  const { cancelled } = await CancellationScope.nonCancellable(() =>
    finalizeJob({
      jobId,
      status,
      successful: counters.successful,
      failed: counters.failed,
      errorMessage,
      checkpoint: { runId: workflowInfo().runId, cursorPosition: state.resumeCursor(), counters: { ...counters } },
    }),
  );
  state.setStatus(status);
  describe();
  // A native cancellation (`temporal workflow cancel`) ends the run as Canceled in Temporal too.
  if (nativeCancel) throw nativeCancel;
  return { jobId, status, successful: counters.successful, failed: counters.failed, cancelled, errorMessage };
}

/** Rejects bad workflow input before any I/O. */
export function assertJobId(jobId: unknown): asserts jobId is string {
  if (typeof jobId !== 'string' || !/^[0-9a-f-]{36}$/i.test(jobId)) {
    throw ApplicationFailure.nonRetryable(`jobId must be a uuid, got '${String(jobId)}'`, 'InvalidInput');
  }
}
