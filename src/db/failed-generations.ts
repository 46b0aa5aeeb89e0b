import type { FailureType } from '../domain/enums';
import type { FailedGenerationRow } from '../domain/rows';
import { failedAttemptOf } from '../generation/failed-attempt';
import type { Db } from './client';
import { unwrap } from './errors';

/** A row to insert into `failed_generations`: one failed attempt that reached a provider. */
interface FailedGenerationRecord {
  batch_item_id: string;
  job_id: string;
  attempt: number;
  generator: string;
  model: string | null;
  prompt: string | null;
  raw_response: string | null;
  stop_reason: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  failure_type: FailureType;
  error_message: string | null;
}

export type { FailedGenerationRow } from '../domain/rows';

/** Inserts one failed attempt. @throws BulkgenError (catalogued from the PostgREST error). */
async function insertFailedGeneration(db: Db, record: FailedGenerationRecord): Promise<void> {
  unwrap('failed_generations', await db.from('failed_generations').insert(record));
}

/** The failed attempts of one item, oldest first. */
export async function listFailedGenerations(db: Db, itemId: string): Promise<FailedGenerationRow[]> {
  return unwrap(
    'failed_generations',
    await db.from('failed_generations').select('*').eq('batch_item_id', itemId).order('created_at', { ascending: true }).order('attempt'),
  );
}

/** What the item activity knows when an attempt fails. */
export interface FailedAttemptContext {
  jobId: string;
  itemId: string;
  /** The activity attempt, from 1. */
  attempt: number;
  /** What the generator (or the validation after it) threw. */
  error: unknown;
}

/**
 * Records a failed generation attempt, best-effort: when `error` carries a provider's
 * FailedAttempt (it reached, or tried to reach, a model), one row is inserted; otherwise
 * nothing is written. Never throws: a failure to write is passed to `onWriteError` (e.g. a log
 * line), so recording can never change the item's outcome.
 *
 * @returns true when a row was written.
 */
export async function recordFailedGeneration(
  db: Db,
  ctx: FailedAttemptContext,
  onWriteError: (error: unknown) => void = () => {},
): Promise<boolean> {
  const attempt = failedAttemptOf(ctx.error);
  if (!attempt) return false;
  try {
    await insertFailedGeneration(db, {
      batch_item_id: ctx.itemId,
      job_id: ctx.jobId,
      attempt: ctx.attempt,
      generator: attempt.generator,
      model: attempt.model,
      prompt: attempt.prompt,
      raw_response: attempt.rawResponse ?? null,
      stop_reason: attempt.stopReason ?? null,
      input_tokens: attempt.inputTokens ?? null,
      output_tokens: attempt.outputTokens ?? null,
      failure_type: attempt.failureType,
      error_message: ctx.error instanceof Error ? ctx.error.message : String(ctx.error),
    });
    return true;
  } catch (err) {
    onWriteError(err);
    return false;
  }
}
