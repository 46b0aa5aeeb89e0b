import { Context } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type { ItemMetricsRecorder, ItemOutcome } from '../src/metrics/item-metrics';

/** What an item attempt tells the count: how its item ended, and whether it had ended before the attempt. */
export interface CountedAttempt {
  outcome: ItemOutcome;
  alreadyEnded?: boolean;
}

/**
 * Runs one attempt of an item chain and counts how it ended in `metrics` (nothing when absent):
 * - it completed or failed its item: that outcome, with the attempt's wall time (from the claim,
 *   or for a lane's item from right after its claim, to the outcome; rate-limit waits included);
 * - the workflow cancelled it (`cancelRequested`, or `jobCancelled` when given: its lane heard of its job's cancel
 *   from another lane): `cancelled`, with its wall time;
 * - anything else thrown (a retryable error, a heartbeat timeout, a worker shutdown): an attempt
 *   error, since Temporal runs the item again (when the retries run out, the workflow fails the
 *   item through `settleItems`, which counts it then);
 * - the item had already ended before this attempt (a retry found it so): nothing, so an item is
 *   counted once.
 */
export async function timeItemAttempt<R extends CountedAttempt>(
  metrics: ItemMetricsRecorder | undefined,
  attempt: () => Promise<R>,
  jobCancelled: () => boolean = () => Context.current().cancellationDetails?.cancelRequested === true,
): Promise<R> {
  if (!metrics) return attempt();
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await attempt();
    if (!result.alreadyEnded) metrics.recordItem(result.outcome, seconds());
    return result;
  } catch (err) {
    if (err instanceof CancelledFailure && jobCancelled()) metrics.recordItem('cancelled', seconds());
    else metrics.recordAttemptError();
    throw err;
  }
}
