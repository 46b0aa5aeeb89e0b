import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { completeItemAndClaimNext } from '../src/db/conversations';
import { claimLaneItem, type LaneClaim } from '../src/db/items';
import type { ProcessLaneInput, ProcessLaneResult } from '../workflows/contract';
import type { JobCancellations, LaneCancellation } from './job-cancels';
import { OutageOutlastsActivity, waitOutOutage } from './outage';
import { processItemChain, type ItemChainDeps, type PersistConversation } from './process-item';

/** Time a lane keeps before its start-to-close timeout to end, holding its items, when the database is still away. */
const DEADLINE_MARGIN_MS = 30_000;

/**
 * A lane: one activity, one concurrency slot, running its items one after
 * another, each through the item chain (`processItemChain`). The workflow
 * gives a lane several items only when they are fast, so the Temporal server
 * and the worker pay one activity for a few seconds of items instead of one
 * per item, and no item waits for a neighbour (as it would in a group run
 * concurrently).
 *
 * Each item is started by `claimLaneItem`, which refuses while the job may
 * not start items (paused, ended, stopping): the lane then ends, holding what it
 * did not start, so a pause or a stop reaches every running lane at
 * its next item, through the database. After a completed item the next one
 * is claimed in the same round trip that stores the conversation
 * (`completeItemAndClaimNext`): one call per item on the happy path.
 *
 * Errors: an item that ends keeps its outcome in the database. A transient
 * error throws the lane; Temporal retries it with backoff, and the retry
 * skips the ended items, redoes the one that failed (so its attempt number
 * is its own) and holds the rest, which the workflow starts in a fresh
 * lane. A cancel of the job (delivered by the heartbeat after each item and
 * during generation, or by another lane of the job on this worker: see
 * `JobCancellations`) stops the running item's request at once and ends the
 * lane as a pause does: what it finished, and the rest held (the running item
 * stays processing; the workflow's end cancels it). Any other cancellation (a
 * worker shutdown, a timeout) throws, and the lane runs again.
 */
export async function processLane(
  laneDeps: ItemChainDeps & { infraOutageBudgetMs?: number; jobCancels?: JobCancellations },
  input: ProcessLaneInput,
): Promise<ProcessLaneResult> {
  const ctx = Context.current();
  const { jobCancels, ...rest } = laneDeps;
  const cancellation = jobCancels?.enter(input.jobId, ctx.cancellationSignal, () => ctx.cancellationDetails?.cancelRequested === true);
  try {
    return await runLane(rest, input, cancellation);
  } finally {
    cancellation?.leave();
  }
}

async function runLane(
  laneDeps: ItemChainDeps & { infraOutageBudgetMs?: number },
  input: ProcessLaneInput,
  cancellation: LaneCancellation | undefined,
): Promise<ProcessLaneResult> {
  const jobCancelled = () => cancellation?.jobCancelled() ?? false;
  const ctx = Context.current();
  const started = Date.now();
  const { infraOutageBudgetMs, ...chainDeps } = laneDeps;
  // Database outages are waited out in the lane (no attempt of the item is spent), up to the budget, and never past
  // the activity's own timeout: before it, the lane ends holding the item, which the workflow sends out again.
  const timeoutMs = ctx.info.startToCloseTimeoutMs || 600_000;
  const deps: ItemChainDeps =
    infraOutageBudgetMs === undefined
      ? chainDeps
      : {
          ...chainDeps,
          outage: { budgetMs: infraOutageBudgetMs, deadline: started + Math.max(timeoutMs - DEADLINE_MARGIN_MS, timeoutMs / 2) },
        };
  const dbCall = <T>(what: string, run: () => Promise<T>): Promise<T> => (deps.outage ? waitOutOutage(what, deps.outage, run) : run());
  const results: ProcessLaneResult['results'] = [];
  let ran = 0;
  /** Ends the lane: items from `from` on are held (not started), for the workflow to send out again. */
  const end = (from: number): ProcessLaneResult => ({ results, held: input.itemIds.slice(from), ran, elapsedMs: Date.now() - started });
  // The next item's claim when it was made with the last item's completion.
  let claimedAhead: { claim: LaneClaim | undefined } | undefined;
  for (let i = 0; i < input.itemIds.length; i++) {
    const itemId = input.itemIds[i]!;
    if (jobCancelled()) return end(i);
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`lane cancelled before item ${i + 1} of ${input.itemIds.length}`);
    // A retry is about the item that failed: it runs that one and holds the others.
    const retrying = ctx.info.attempt > 1;
    if (retrying && ran > 0) return end(i);
    let claim: LaneClaim | undefined;
    try {
      claim = claimedAhead ? claimedAhead.claim : await dbCall('claim', () => claimLaneItem(deps.db, itemId, new Date().toISOString()));
    } catch (err) {
      if (err instanceof OutageOutlastsActivity) return end(i);
      throw err;
    }
    claimedAhead = undefined;
    if (!claim) throw ApplicationFailure.nonRetryable(`batch item '${itemId}' does not exist`, 'ItemNotFound');
    if (claim.held) return end(i);
    const wasOpen = claim.item.status === 'queued' || claim.item.status === 'processing';
    const nextId = retrying ? undefined : input.itemIds[i + 1];
    const persist: PersistConversation | undefined =
      nextId === undefined
        ? undefined
        : async (id, record) => {
            const { conversationId, next } = await completeItemAndClaimNext(deps.db, id, record, nextId, new Date().toISOString());
            claimedAhead = { claim: next };
            return conversationId;
          };
    const chainInput = { jobId: input.jobId, itemId, maxInvalidOutputAttempts: input.maxInvalidOutputAttempts, cancellation };
    let result;
    try {
      result = await processItemChain(deps, chainInput, claim.item, persist);
    } catch (err) {
      if (err instanceof OutageOutlastsActivity) return end(i);
      if (err instanceof CancelledFailure && jobCancelled()) return end(i);
      throw err;
    }
    results.push({ ...result, id: itemId });
    if (wasOpen) ran++;
    // Throttled by the worker (maxHeartbeatThrottleInterval): how a cancel reaches a lane between items.
    ctx.heartbeat({ done: i + 1, of: input.itemIds.length });
    if (input.stopAfterFailure && wasOpen && result.outcome === 'failed') return end(i + 1);
  }
  return end(input.itemIds.length);
}
