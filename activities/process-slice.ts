import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { claimItems } from '../src/db/items';
import { processItemChain, type ItemChainDeps, type ProcessItemResult } from './process-item';

/** Input of a slice: a few items of one job, ids only. */
export interface ProcessSliceInput {
  jobId: string;
  itemIds: string[];
  /** Attempts whose output fails the schema before an item fails (default 3). */
  maxInvalidOutputAttempts?: number;
}

/** Every item's outcome, in input order, and how long the attempt took (the workflow sizes slices by it). */
export interface ProcessSliceResult {
  results: ProcessItemResult[];
  elapsedMs: number;
}

/**
 * Runs a slice of items, each through its own item chain, concurrently, in
 * one activity: one claim round trip for the slice, then per item the same
 * chain as `processItemChain`. The workflow sends slices of more than one
 * item only when items are fast (a slice of slow items is a single item),
 * so a slice costs the Temporal server and the worker one activity instead
 * of several, and never holds a slow item's neighbours hostage.
 *
 * Errors: items that end (completed, or failed for good) keep their outcome
 * in the database. When any item needs a retry the slice throws, after the
 * others settled; its retry finds the ended items through the claim and
 * redoes only the rest. A cancelled item cancels the slice.
 */
export async function processSlice(
  deps: ItemChainDeps,
  input: ProcessSliceInput,
): Promise<ProcessSliceResult> {
  const started = Date.now();
  const rows = await claimItems(deps.db, input.itemIds, new Date(started).toISOString());
  const settled = await Promise.allSettled(
    input.itemIds.map((itemId) =>
      processItemChain(deps, { jobId: input.jobId, itemId, maxInvalidOutputAttempts: input.maxInvalidOutputAttempts }, rows.get(itemId) ?? null),
    ),
  );
  const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (errors.length === 0) {
    return { results: settled.map((s) => (s as PromiseFulfilledResult<ProcessItemResult>).value), elapsedMs: Date.now() - started };
  }
  throw errors.find((e) => e instanceof CancelledFailure) ?? errors.find(isNonRetryable) ?? longestRetryDelay(errors);
}

function isNonRetryable(err: unknown): boolean {
  return err instanceof ApplicationFailure && err.nonRetryable === true;
}

/** The retryable error that asks for the longest wait (a provider's `retry-after`), so no item retries too early. */
function longestRetryDelay(errors: unknown[]): unknown {
  const delay = (e: unknown) => {
    const d = e instanceof ApplicationFailure ? e.nextRetryDelay : undefined;
    return typeof d === 'number' ? d : 0;
  };
  return errors.reduce((a, b) => (delay(b) > delay(a) ? b : a));
}
