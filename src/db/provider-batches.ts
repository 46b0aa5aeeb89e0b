import type { Db } from './client';
import { unwrap } from './errors';

/** The provider's request counts, summed over a job's chunks. */
export interface ProviderCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

/** Where a provider-batch job's chunks stand (the `provider_batches` rows). */
export interface ProviderBatchSummary {
  /** Chunks made so far. */
  chunks: number;
  /** Chunks out at the provider (or being submitted). */
  chunksOut: number;
  /** Requests the provider has not finished, over the chunks out. */
  requestsPending: number;
  /** The provider's last counts, summed over every chunk. */
  counts: ProviderCounts;
  /** Chunks the provider refused (their items went direct), with the reason of the last one. */
  refused: number;
  lastRefusal: string | null;
}

const COUNT_KEYS = ['processing', 'succeeded', 'errored', 'canceled', 'expired'] as const;

/**
 * Reads a job's chunks and sums them. A job has about items / chunk size chunks (100 at 100,000 items in chunks of
 * 1,000), so they are summed here, not in SQL.
 */
export async function providerBatchSummary(db: Db, jobId: string): Promise<ProviderBatchSummary> {
  const rows = unwrap(
    'provider_batches',
    await db
      .from('provider_batches')
      .select('status, request_counts, error_message, created_at')
      .eq('batch_job_id', jobId)
      .order('created_at'),
  ) as Array<{ status: string; request_counts: Partial<ProviderCounts> | null; error_message: string | null }>;
  const counts: ProviderCounts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  let chunksOut = 0;
  let requestsPending = 0;
  let refused = 0;
  let lastRefusal: string | null = null;
  for (const row of rows) {
    const open = row.status === 'preparing' || row.status === 'submitted';
    if (open) chunksOut++;
    if (row.status === 'refused') {
      refused++;
      lastRefusal = row.error_message;
    }
    for (const key of COUNT_KEYS) counts[key] += Number(row.request_counts?.[key] ?? 0);
    if (open) requestsPending += Number(row.request_counts?.processing ?? 0);
  }
  return { chunks: rows.length, chunksOut, requestsPending, counts, refused, lastRefusal };
}
