import { randomBytes } from 'node:crypto';
import os from 'node:os';

/** How an item ended in a worker, as `bulkgen_items_processed_total{outcome}` counts it. */
export const ITEM_OUTCOMES = ['completed', 'failed', 'cancelled'] as const;
export type ItemOutcome = (typeof ITEM_OUTCOMES)[number];

/**
 * Upper bounds (seconds) of `bulkgen_item_duration_seconds`: from fast offline runs (tens of
 * milliseconds) to slow LLM calls (minutes). Observations above the last bound land in `+Inf`.
 */
export const ITEM_DURATION_BUCKETS: readonly number[] = Object.freeze([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]);

/** The key of the overflow bucket in `durationBuckets`. */
export const INF_BUCKET = '+Inf';

/**
 * Absolute totals of one worker process since it started (what it flushes, never increments).
 * `durationBuckets` holds per-bucket counts (NOT cumulative), keyed by the upper bound as
 * `String(bound)` and `+Inf`, so totals of processes with different bounds still add up.
 */
export interface ItemMetricsSnapshot {
  outcomes: Record<ItemOutcome, number>;
  attemptErrors: number;
  durationBuckets: Record<string, number>;
  durationSumSeconds: number;
  durationCount: number;
}

/** Who flushes: one row per worker process in `worker_item_metrics`. */
export interface WorkerIdentity {
  /** `<hostname>:<pid>:<random>`: a restarted process (same pid in a container) gets a new row. */
  workerId: string;
  hostname: string;
  pid: number;
  startedAt: string;
}

/** This process's identity, with a fresh random part. */
export function newWorkerIdentity(now: Date = new Date()): WorkerIdentity {
  const hostname = os.hostname();
  return {
    workerId: `${hostname}:${process.pid}:${randomBytes(4).toString('hex')}`,
    hostname,
    pid: process.pid,
    startedAt: now.toISOString(),
  };
}

/**
 * In-memory item metrics of one worker process: items by outcome, attempts that ended in a
 * retryable error, and a duration histogram of the attempts that ended an item. Counting is
 * synchronous and allocation-free; `ItemMetricsReporter` flushes `snapshot()` to Postgres.
 *
 * @example
 * const metrics = new ItemMetricsRecorder();
 * metrics.recordItem('completed', 1.2); // an attempt that completed its item in 1.2 s
 * metrics.recordAttemptError();         // an attempt Temporal will retry
 * metrics.recordItem('failed');         // the workflow failed an item whose retries ran out (no duration)
 */
export class ItemMetricsRecorder {
  private readonly outcomes: Record<ItemOutcome, number> = { completed: 0, failed: 0, cancelled: 0 };
  /** Per-bucket counts by index into ITEM_DURATION_BUCKETS; the last slot is `+Inf`. */
  private readonly buckets = new Array<number>(ITEM_DURATION_BUCKETS.length + 1).fill(0);
  private attemptErrors = 0;
  private durationSum = 0;
  private durationCount = 0;
  private changes = 0;

  /** Bumped by every recording; a flush with an unchanged version has nothing new to write. */
  get version(): number {
    return this.changes;
  }

  /**
   * Counts an item this worker ended. `durationSeconds` (claim to outcome of the attempt that
   * ended it) goes into the histogram when given; an item failed by the workflow after its retries
   * ran out has none.
   */
  recordItem(outcome: ItemOutcome, durationSeconds?: number): void {
    this.outcomes[outcome]++;
    if (durationSeconds !== undefined) this.observe(durationSeconds);
    this.changes++;
  }

  /** Counts an item attempt that ended in a retryable error (Temporal retries it with backoff). */
  recordAttemptError(): void {
    this.attemptErrors++;
    this.changes++;
  }

  /** The absolute totals so far (a copy). */
  snapshot(): ItemMetricsSnapshot {
    const durationBuckets: Record<string, number> = {};
    ITEM_DURATION_BUCKETS.forEach((bound, i) => (durationBuckets[String(bound)] = this.buckets[i]!));
    durationBuckets[INF_BUCKET] = this.buckets[ITEM_DURATION_BUCKETS.length]!;
    return {
      outcomes: { ...this.outcomes },
      attemptErrors: this.attemptErrors,
      durationBuckets,
      durationSumSeconds: this.durationSum,
      durationCount: this.durationCount,
    };
  }

  private observe(seconds: number): void {
    // A clock step backwards must not make a negative sum (the table CHECKs it).
    const value = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    let i = 0;
    while (i < ITEM_DURATION_BUCKETS.length && value > ITEM_DURATION_BUCKETS[i]!) i++;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.durationSum += value;
    this.durationCount++;
  }
}
