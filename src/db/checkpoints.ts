import type { CheckpointInput } from '../domain/job-writes';
import type { Db } from './client';
import { unwrap } from './errors';

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
