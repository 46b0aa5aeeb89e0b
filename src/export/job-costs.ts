import type { Db } from '../db/client';
import { unwrap } from '../db/errors';

/** What a job's conversations have cost so far (the `batch_job_costs` view). */
export interface JobCost {
  /** Conversations the job's items have. */
  conversations: number;
  inputTokens: number;
  outputTokens: number;
  /** USD, the sum of `conversations.cost_usd` (each rounded to 6 decimals). */
  costUsd: number;
  /** Prompt-cache tokens: written (billed above the input price) and read (billed at a tenth of it). */
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

/**
 * The share of the cacheable input that was read from the cache: reads / (reads + writes). Null when nothing was
 * cacheable (no prefix, a prefix under the model's minimum, or the offline generator).
 */
export function cacheReadRatio(cost: Pick<JobCost, 'cacheCreationInputTokens' | 'cacheReadInputTokens'>): number | null {
  const cacheable = cost.cacheCreationInputTokens + cost.cacheReadInputTokens;
  return cacheable === 0 ? null : Number((cost.cacheReadInputTokens / cacheable).toFixed(4));
}

/** The cost of a job without conversations. */
const NO_COST: Readonly<JobCost> = Object.freeze({
  conversations: 0,
  inputTokens: 0,
  outputTokens: 0,
  costUsd: 0,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
});

interface JobCostRow {
  conversations: number | string;
  input_tokens: number | string;
  output_tokens: number | string;
  cost_usd: number | string;
  cache_creation_input_tokens: number | string;
  cache_read_input_tokens: number | string;
}

const COST_COLUMNS = 'conversations, input_tokens, output_tokens, cost_usd, cache_creation_input_tokens, cache_read_input_tokens';

function toJobCost(row: JobCostRow): JobCost {
  return {
    conversations: Number(row.conversations),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    costUsd: Number(row.cost_usd),
    cacheCreationInputTokens: Number(row.cache_creation_input_tokens),
    cacheReadInputTokens: Number(row.cache_read_input_tokens),
  };
}

/**
 * Reads a job's cost and token usage from the `batch_job_costs` view (one
 * row per job, summed over its items' conversations). A job that does not
 * exist costs {@link NO_COST}; callers that must tell the two apart read the
 * job first.
 *
 * @example await getJobCost(db, jobId) // { conversations: 4, inputTokens: 5721, outputTokens: 8354, costUsd: 0.142467 }
 */
export async function getJobCost(db: Db, jobId: string): Promise<JobCost> {
  const row = unwrap(
    'batch_job_costs',
    await db.from('batch_job_costs').select(COST_COLUMNS).eq('job_id', jobId).maybeSingle<JobCostRow>(),
  );
  return row ? toJobCost(row) : { ...NO_COST };
}

/** {@link getJobCost} of many jobs in one read, keyed by job id (a job without conversations is absent: it costs nothing). */
export async function getJobCosts(db: Db, jobIds: readonly string[]): Promise<Map<string, JobCost>> {
  if (jobIds.length === 0) return new Map();
  const rows = unwrap(
    'batch_job_costs',
    await db
      .from('batch_job_costs')
      .select(`job_id, ${COST_COLUMNS}`)
      .in('job_id', [...jobIds])
      .returns<Array<JobCostRow & { job_id: string }>>(),
  );
  return new Map(rows.map((row) => [row.job_id, toJobCost(row)]));
}
