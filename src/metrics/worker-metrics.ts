import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import type { WorkerItemMetricsRow } from '../domain/rows';
import type { ItemMetricsSnapshot, WorkerIdentity } from './item-metrics';

export type { WorkerItemMetricsRow } from '../domain/rows';

/**
 * Writes a worker's totals as one upsert on `worker_id` (absolute values: a repeated write
 * changes nothing). @throws BulkgenError (catalogued from the PostgREST error).
 */
export async function upsertWorkerItemMetrics(db: Db, worker: WorkerIdentity, totals: ItemMetricsSnapshot): Promise<void> {
  const row: WorkerItemMetricsRow = {
    worker_id: worker.workerId,
    hostname: worker.hostname,
    pid: worker.pid,
    started_at: worker.startedAt,
    updated_at: new Date().toISOString(),
    outcomes: totals.outcomes,
    attempt_errors: totals.attemptErrors,
    duration_buckets: totals.durationBuckets,
    duration_sum_seconds: totals.durationSumSeconds,
    duration_count: totals.durationCount,
  };
  unwrap('worker_item_metrics', await db.from('worker_item_metrics').upsert(row, { onConflict: 'worker_id' }));
}

/** One worker's row, or undefined (tests and operators read it). */
export async function findWorkerItemMetrics(db: Db, workerId: string): Promise<WorkerItemMetricsRow | undefined> {
  return (
    unwrap(
      'worker_item_metrics',
      await db.from('worker_item_metrics').select('*').eq('worker_id', workerId).maybeSingle<WorkerItemMetricsRow>(),
    ) ?? undefined
  );
}
