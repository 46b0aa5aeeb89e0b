import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { completeItemAndClaimNext } from '../src/db/conversations';
import { claimLaneItem, type LaneClaim } from '../src/db/items';
import { processItemChain, type ItemChainDeps, type PersistConversation, type ProcessItemResult } from './process-item';

/** Input of a lane: a few items of one job, ids only, run in this order. */
export interface ProcessLaneInput {
  jobId: string;
  itemIds: string[];
  /** End the lane right after an item fails, so the workflow hears of it at once (its error policy may stop the job). */
  stopAfterFailure?: boolean;
  /** Attempts whose output fails the schema before an item fails (default 3). */
  maxInvalidOutputAttempts?: number;
}

/** What a lane did: the outcome of each item it ended, the ids it handed back unstarted, and how long its items took. */
export interface ProcessLaneResult {
  results: Array<ProcessItemResult & { id: string }>;
  /** Items not started, in input order: the job may not start items now, or the lane stopped early. The workflow keeps them. */
  held: string[];
  /** How many items this attempt ran (items found ended are not counted) and how long it took: the workflow sizes lanes by it. */
  ran: number;
  elapsedMs: number;
}

/**
 * A lane: one activity, one concurrency slot, running its items one after
 * another, each through the item chain (`processItemChain`). The workflow
 * gives a lane several items only when they are fast, so the Temporal server
 * and the worker pay one activity for a few seconds of items instead of one
 * per item, and no item waits for a neighbour (as it would in a group run
 * concurrently).
 *
 * Each item is started by `claimLaneItem`, which refuses while the job may
 * not start items (paused, ended, stopping): the lane then hands back what it
 * did not start and ends, so a pause or a stop reaches every running lane at
 * its next item, through the database. After a completed item the next one
 * is claimed in the same round trip that stores the conversation
 * (`completeItemAndClaimNext`): one call per item on the happy path.
 *
 * Errors: an item that ends keeps its outcome in the database. A transient
 * error throws the lane; Temporal retries it with backoff, and the retry
 * skips the ended items, redoes the one that failed (so its attempt number
 * is its own) and hands back the rest, which the workflow starts in a fresh
 * lane. Cancellation (delivered by the heartbeat after each item and during
 * generation) throws at once; the workflow asks the database what ended.
 */
export async function processLane(deps: ItemChainDeps, input: ProcessLaneInput): Promise<ProcessLaneResult> {
  const ctx = Context.current();
  const started = Date.now();
  const results: ProcessLaneResult['results'] = [];
  let ran = 0;
  const handBack = (from: number): ProcessLaneResult => ({ results, held: input.itemIds.slice(from), ran, elapsedMs: Date.now() - started });
  // The next item's claim when it was made with the last item's completion.
  let claimedAhead: { claim: LaneClaim | undefined } | undefined;
  for (let i = 0; i < input.itemIds.length; i++) {
    const itemId = input.itemIds[i]!;
    if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`lane cancelled before item ${i + 1} of ${input.itemIds.length}`);
    // A retry is about the item that failed: it runs that one and hands the others back.
    const retrying = ctx.info.attempt > 1;
    if (retrying && ran > 0) return handBack(i);
    const claim = claimedAhead ? claimedAhead.claim : await claimLaneItem(deps.db, itemId, new Date().toISOString());
    claimedAhead = undefined;
    if (!claim) throw ApplicationFailure.nonRetryable(`batch item '${itemId}' does not exist`, 'ItemNotFound');
    if (claim.held) return handBack(i);
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
    const chainInput = { jobId: input.jobId, itemId, maxInvalidOutputAttempts: input.maxInvalidOutputAttempts };
    const result = await processItemChain(deps, chainInput, claim.item, persist);
    results.push({ ...result, id: itemId });
    if (wasOpen) ran++;
    // Throttled by the worker (maxHeartbeatThrottleInterval): how a cancel reaches a lane between items.
    ctx.heartbeat({ done: i + 1, of: input.itemIds.length });
    if (input.stopAfterFailure && wasOpen && result.outcome === 'failed') return handBack(i + 1);
  }
  return handBack(input.itemIds.length);
}
