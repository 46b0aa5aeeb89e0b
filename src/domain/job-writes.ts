import type { CheckpointReason, JobStatus } from './enums';

/** Columns written on a job row, as absolute values (a retried write cannot double count). */
export interface JobPatch {
  status?: JobStatus;
  successful_items?: number;
  failed_items?: number;
  completed_items?: number;
  cancelled_items?: number;
  concurrent_processing?: number;
  estimated_time_remaining?: number | null;
  started_at?: string;
  completed_at?: string | null;
  error_message?: string | null;
  /** Only the API writes it (PATCH /v1/batches/:id { maxCostUsd }). */
  max_cost_usd?: number | null;
}

/** What a checkpoint records: where the workflow was and what it had counted. */
export interface CheckpointInput {
  jobId: string;
  runId: string;
  cursorPosition: number;
  counters: Record<string, number>;
  reason: CheckpointReason;
}

/** What a job's end writes (`finalize_batch_job`): its final status and counters, and the 'finish' checkpoint. */
export interface JobEnd {
  status: Extract<JobStatus, 'completed' | 'failed' | 'cancelled'>;
  successful: number;
  failed: number;
  errorMessage?: string;
  /** The run that ends the job, where it stood, its counters. */
  checkpoint: Omit<CheckpointInput, 'reason' | 'jobId'>;
}
