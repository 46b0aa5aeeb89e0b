import type { CheckpointReason } from '../domain/enums';
import type { Db } from './client';
import { unwrap } from './errors';

/** What a checkpoint records: where the workflow was and what it had counted. */
export interface CheckpointInput {
  jobId: string;
  runId: string;
  cursorPosition: number;
  counters: Record<string, number>;
  reason: CheckpointReason;
}

/** Appends a `batch_checkpoints` row. */
export async function writeCheckpoint(db: Db, cp: CheckpointInput): Promise<void> {
  unwrap(
    'batch_checkpoints',
    await db.from('batch_checkpoints').insert({
      job_id: cp.jobId,
      run_id: cp.runId,
      cursor_position: cp.cursorPosition,
      counters: cp.counters,
      reason: cp.reason,
    }),
  );
}
