import {
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { fetchItemPage, finalizeJob, itemActivities, loadJob, settleItems, syncJob, writeCheckpoint } from './activity-proxies';
import { BatchState } from './batch-state';
import type { BatchResult, BatchWorkflowInput, ItemOutcome, ItemRef } from './contract';
import { ItemPager } from './item-pager';
import { JobRowWriter } from './job-row-writer';
import { cancelSignal, pauseSignal, progressQuery, resumeSignal, setConcurrencySignal } from './messages';
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
  const state = new BatchState(input, { now: Date.now, onStatus: (s) => upsertSearchAttributes([{ key: BatchStatusKey, value: s }]) });
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
  /** Where `refs` stand in the database, by id (`failMessage`: fail the one a lane was running first). */
  const settle = async (refs: ItemRef[], failMessage?: string): Promise<Map<string, ItemOutcome>> => {
    const outcomes = await CancellationScope.nonCancellable(() => settleItems({ itemIds: refs.map((r) => r.id), failMessage }));
    return new Map(outcomes.map((o) => [o.id, o]));
  };
  const dispatchScope = new CancellationScope();

  // Registered before the first await, so no signal or query finds the workflow without them.
  setHandler(progressQuery, () => state.progress());
  setHandler(pauseSignal, () => {
    if (!state.pause()) return;
    describe();
    sync();
    void checkpoint('pause');
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

  state.loaded(await loadJob(jobId));
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
  // Lanes wait for the row to show what the workflow says (see canStart): make it so.
  if (writer.rowStatus !== state.status) sync();

  // Items of cancelled lanes: settled together once the window is empty (one activity, not one per lane).
  const cancelledItems: ItemRef[] = [];
  const runLane = async (refs: ItemRef[]): Promise<void> => {
    try {
      const { results, held, ran, elapsedMs } = await processLane({
        jobId,
        itemIds: refs.map((r) => r.id),
        stopAfterFailure: state.stopAfterFailure,
      });
      state.laneTimed(ran, elapsedMs);
      for (const result of results) if (state.itemEnded(result)) sync();
      const byId = new Map(refs.map((r) => [r.id, r]));
      state.hold(held.map((id) => byId.get(id)!));
    } catch (err) {
      // A cancelled one-item lane ended nothing; a longer one may have finished some items: counted after the window empties.
      if (isCancellation(err)) {
        if (refs.length > 1) cancelledItems.push(...refs);
        return;
      }
      // Retries ran out: fail the item the lane was running, count what it had finished, send out again what it never started.
      const failMessage = `gave up after ${opts.maxItemAttempts} attempts: ${rootMessage(err)}`;
      const outcomes = await settle(refs, failMessage);
      for (const ref of refs) {
        const outcome = outcomes.get(ref.id);
        if (outcome?.status === 'queued') state.hold([ref]);
        // An item whose row vanished still counts once, as failed.
        else if (state.outcomeFound(ref, outcome ?? { id: ref.id, position: ref.position, status: 'failed', error_message: failMessage }))
          sync();
      }
    } finally {
      state.inFlight--;
      describe();
      writer.syncSoon(state.inFlight === 0);
    }
  };

  const pager = new ItemPager((afterPosition, limit) => fetchItemPage({ jobId, afterPosition, limit }), opts.pageSize);
  /** Up to `want` items for a lane: held ones first, then new ones from the pages. */
  const takeItems = async (want: number): Promise<ItemRef[]> => {
    const refs = state.takeHeld(want);
    while (refs.length < want) {
      const ref = await pager.next(state.cursor);
      if (!ref) break;
      refs.push(ref);
      state.taken(ref);
    }
    return refs;
  };

  let continueRun = false;
  let nativeCancel: unknown;
  try {
    await dispatchScope.run(async () => {
      for (;;) {
        await condition(() => state.halted || (state.canStart(writer.rowStatus) && state.inFlight < state.windowSize()));
        if (state.halted) break;
        if (state.runIsFull(workflowInfo().continueAsNewSuggested)) {
          continueRun = true;
          break;
        }
        const refs = await takeItems(state.laneSize());
        if (refs.length === 0) {
          if (state.inFlight === 0) break;
          // Running lanes may still hold items (a pause reached them): wait for them, then look again.
          await condition(() => state.halted || state.inFlight === 0 || state.held.length > 0);
          continue;
        }
        if (state.laneStarting()) sync();
        void runLane(refs);
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
  if (cancelledItems.length > 0) {
    const outcomes = await settle(cancelledItems);
    for (const ref of cancelledItems) if (state.outcomeFound(ref, outcomes.get(ref.id))) sync();
  }
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
