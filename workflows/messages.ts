import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { JobStatus } from '../src/domain/enums';

/** What the `progress` query answers (totalItems is 0 until the run has read the job row). */
export interface BatchProgress {
  jobId: string;
  status: JobStatus;
  totalItems: number;
  successful: number;
  failed: number;
  processed: number;
  inFlight: number;
  concurrency: number;
  etaSeconds: number | null;
  cursor: number;
  run: number;
}

/** Stop dispatching; in-flight items finish. `temporal workflow signal --name pause`. */
export const pauseSignal = defineSignal('pause');
/** Dispatch again after a pause. */
export const resumeSignal = defineSignal('resume');
/** Cancel in-flight items (waiting for them to stop) and every unstarted item. */
export const cancelSignal = defineSignal('cancel');
/** Change how many items may be in flight, e.g. `{ "concurrency": 10 }` (1..200). */
export const setConcurrencySignal = defineSignal<[{ concurrency: number }]>('setConcurrency');
/** A new spend cap in USD (null: none), e.g. `{ "maxCostUsd": 25 }`; the API writes it to the job row first. */
export const setSpendCapSignal = defineSignal<[{ maxCostUsd: number | null }]>('setSpendCap');
/** Status, counters, in-flight items, concurrency and ETA. */
export const progressQuery = defineQuery<BatchProgress>('progress');
