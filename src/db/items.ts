import type { ItemStatus } from '../domain/enums';
import type { ItemOutcome, ItemRef } from '../domain/items';
import type { BatchItemRow } from '../domain/rows';
import type { Db } from './client';
import { unwrap } from './errors';

/**
 * The next `limit` items after `afterPosition` that have not ended, by position (uses the (job, position) index).
 * `processing` ones too: past the cursor nothing runs, so such an item is one a lane claimed and then held (it
 * ended before the database came back, `activities/outage.ts`), which a run continued-as-new must page again.
 */
export async function pageQueuedItems(db: Db, jobId: string, afterPosition: number, limit: number): Promise<ItemRef[]> {
  return unwrap(
    'batch_items',
    await db
      .from('batch_items')
      .select('id, position')
      .eq('batch_job_id', jobId)
      .in('status', ['queued', 'processing'])
      .gt('position', afterPosition)
      .order('position', { ascending: true })
      .limit(limit),
  );
}

/**
 * Marks the item processing and returns it, in one round trip. A retried
 * activity may find it already processing (that is fine) or already ended:
 * then the row comes back with its final status and nothing is written.
 */
export async function claimItem(db: Db, itemId: string, startedAt: string): Promise<BatchItemRow | undefined> {
  const claimed = unwrap(
    'batch_items',
    await db
      .from('batch_items')
      .update({ status: 'processing', started_at: startedAt, progress: 10 })
      .eq('id', itemId)
      .in('status', ['queued', 'processing'])
      .select('*')
      .maybeSingle<BatchItemRow>(),
  );
  if (claimed) return claimed;
  return unwrap('batch_items', await db.from('batch_items').select('*').eq('id', itemId).maybeSingle<BatchItemRow>()) ?? undefined;
}

/** What `claimLaneItem` found: the item must wait (the job may not start items now), or its row. */
export type LaneClaim = { held: true } | { held: false; item: BatchItemRow };

/**
 * Starts a lane's next item (`claim_batch_item`, one round trip): marks it
 * processing and returns its row, unless the job may not start items now
 * (paused, ended, stopping), then `{ held: true }` and nothing is written.
 * A started or ended item comes back whatever the job says (a retried lane
 * redoes or skips it). Undefined when the item does not exist.
 */
export async function claimLaneItem(db: Db, itemId: string, startedAt: string): Promise<LaneClaim | undefined> {
  const { data, error } = await db.rpc('claim_batch_item', { p_item_id: itemId, p_started_at: startedAt });
  return (unwrap('claim_batch_item', { data: (data ?? null) as LaneClaim | null, error }) as LaneClaim | null) ?? undefined;
}

/**
 * Fails the items of `itemIds` that are processing with `message` (when
 * given), then returns the status of every one of them: how a workflow
 * learns what a lane it gave up on (or cancelled) did finish, and which of
 * its items never started (still queued). `failedNow` counts the items this
 * call failed (0 when it runs again).
 */
export async function settleItems(db: Db, itemIds: string[], message?: string): Promise<{ outcomes: ItemOutcome[]; failedNow: number }> {
  let failedNow = 0;
  if (message !== undefined) {
    const failed = unwrap(
      'batch_items',
      await db
        .from('batch_items')
        .update({ status: 'failed', error_message: message, completed_at: new Date().toISOString() })
        .in('id', itemIds)
        .eq('status', 'processing')
        .select('id'),
    );
    failedNow = failed.length;
  }
  const outcomes = unwrap('batch_items', await db.from('batch_items').select('id, position, status, error_message').in('id', itemIds));
  return { outcomes, failedNow };
}

/** Fails one item with a message a person can act on (never overwrites a completed item). */
export async function failItem(db: Db, itemId: string, message: string): Promise<void> {
  unwrap(
    'batch_items',
    await db
      .from('batch_items')
      .update({ status: 'failed', error_message: message, completed_at: new Date().toISOString() })
      .eq('id', itemId)
      .in('status', ['queued', 'processing']),
  );
}

/** Cancels every item of the job that has not ended; returns how many it cancelled. */
export async function cancelOpenItems(db: Db, jobId: string): Promise<number> {
  const rows = unwrap(
    'batch_items',
    await db
      .from('batch_items')
      .update({ status: 'cancelled', completed_at: new Date().toISOString() })
      .eq('batch_job_id', jobId)
      .in('status', ['queued', 'processing'])
      .select('id'),
  );
  return rows.length;
}

/** How many of the job's items are in `status`. */
export async function countItems(db: Db, jobId: string, status: ItemStatus): Promise<number> {
  const { count, error } = await db
    .from('batch_items')
    .select('id', { count: 'exact', head: true })
    .eq('batch_job_id', jobId)
    .eq('status', status);
  if (error) unwrap('batch_items', { data: null, error });
  return count ?? 0;
}
