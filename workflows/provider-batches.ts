import { CancellationScope, condition, workflowInfo } from '@temporalio/workflow';
import { cancelChunks, pollChunks, submitChunk } from './activity-proxies';
import type { BatchState } from './batch-state';
import type { JobRowWriter } from './job-row-writer';

/** How the provider-batch phase of a run ended. */
export type ProviderPhaseEnd = 'done' | 'continue-as-new' | 'halted';

/** What the phase needs from the workflow: its state and row writer, and the spend-cap check. */
export interface ProviderPhaseDeps {
  state: BatchState;
  writer: JobRowWriter;
  /** Checks the spend cap after a poll (the workflow pauses the job when it is reached). */
  afterPoll: () => void;
}

/**
 * The provider-batch phase of a run: submits chunks of queued items to the provider's batch API (at most
 * `maxChunksOut` out; none while the job is paused or stopping), polls them with durable timers (back-off
 * from `pollMinMs`, doubling while nothing moves, up to `pollMaxMs`) and lets `pollChunks` ingest the ended
 * ones, until no item may go to the provider any more (all ended, or past the direct-fallback deadline) and
 * no chunk is out. Items left queued then go direct, through the run's lanes. Everything that must survive a
 * restart is in the database (`provider_batches`); the workflow keeps only a chunk counter.
 *
 * `submitChunk` and `pollChunks` run non-cancellable: a cancel waits for a submission in progress, so no
 * provider batch is accepted after `cancelChunks` ran; only the timer between polls is cancelled.
 */
export async function runProviderPhase({ state, writer, afterPoll }: ProviderPhaseDeps): Promise<ProviderPhaseEnd> {
  const settings = state.job.providerBatch!;
  const { runId } = workflowInfo();
  let chunkNo = 0;
  let open = 0;
  let nothingToSubmit = false;
  let delay = settings.pollMinMs;
  const canSubmit = () =>
    !state.halted && !nothingToSubmit && state.canStart(writer.rowStatus) && open < settings.maxChunksOut && !historyIsFull();
  const poll = async () => {
    const polled = await CancellationScope.nonCancellable(() => pollChunks(state.jobId));
    open = polled.open;
    if (polled.requeued > 0) nothingToSubmit = false;
    if (state.providerPolled(polled)) void writer.sync();
    else writer.syncSoon(false);
    afterPoll();
    return polled;
  };

  // Chunks an earlier run left out (continue-as-new, a retried workflow task) are in the table: count them first.
  await poll();
  for (;;) {
    while (canSubmit()) {
      const submitted = await CancellationScope.nonCancellable(() =>
        submitChunk({ jobId: state.jobId, chunkKey: `${runId}:${++chunkNo}` }),
      );
      if (submitted.outcome === 'empty') nothingToSubmit = true;
      if (submitted.outcome !== 'submitted') break;
      open++;
      if (state.chunkSubmitted()) void writer.sync();
      delay = settings.pollMinMs;
    }
    if (open === 0 && (nothingToSubmit || state.halted)) return state.halted ? 'halted' : 'done';
    if (state.cancelRequested) return 'halted';
    if (historyIsFull() && open === 0) return 'continue-as-new';

    // Wakes early for a cancel, or when a chunk may go out again (a resume). Nothing out: nothing to poll either.
    const woke =
      open === 0
        ? (await condition(() => state.cancelRequested || canSubmit()), true)
        : await condition(() => state.cancelRequested || canSubmit(), delay);
    if (woke && state.cancelRequested) return 'halted';
    if (woke) continue;

    const polled = await poll();
    delay = polled.moved || polled.ingested > 0 ? settings.pollMinMs : Math.min(delay * 2, settings.pollMaxMs);
    if (historyIsFull()) {
      // Chunks out stay out: the next run finds them in the table and polls them.
      return 'continue-as-new';
    }
  }

  function historyIsFull(): boolean {
    const info = workflowInfo();
    return info.historyLength >= settings.historyLimit || info.continueAsNewSuggested;
  }
}

/** After a cancel: cancels the provider batches still out (their items are cancelled with the rest by `finalizeJob`). */
export async function cancelOpenChunks(state: BatchState): Promise<void> {
  if (state.job.executionMode !== 'provider-batch') return;
  await CancellationScope.nonCancellable(() => cancelChunks(state.jobId));
}
