import { DEFAULTS } from '../config';
import type { Db } from '../db/client';
import { newWorkerIdentity, type ItemMetricsRecorder, type WorkerIdentity } from './item-metrics';
import { upsertWorkerItemMetrics } from './worker-metrics';

/** What `ItemMetricsReporter` needs. */
export interface ItemMetricsReporterOptions {
  db: Db;
  recorder: ItemMetricsRecorder;
  /** Milliseconds between flushes (default 5,000, `WORKER_METRICS_FLUSH_MS`). */
  intervalMs?: number;
  /** Defaults to a new identity of this process. */
  worker?: WorkerIdentity;
  /** Where a failed flush is reported; it is retried on the next tick. */
  warn?: (message: string) => void;
}

/**
 * Writes a worker's item metrics to `worker_item_metrics`: its absolute totals as ONE upsert,
 * every `intervalMs` and on `stop()`, skipped when nothing was recorded since the last write.
 * Writes never overlap (a tick while one is running is skipped), so a row never goes backwards.
 * A failed write is reported through `warn` (once per run of failures) and retried by the next
 * tick; it never reaches an item.
 *
 * @example
 * const reporter = new ItemMetricsReporter({ db, recorder, intervalMs: 5000, warn: info });
 * reporter.start();
 * await worker.run();
 * await reporter.stop(); // the last totals
 */
export class ItemMetricsReporter {
  readonly worker: WorkerIdentity;
  private readonly intervalMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** The recorder version last written (0: nothing recorded yet, nothing to write). */
  private writtenVersion = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private failures = 0;

  constructor(private readonly opts: ItemMetricsReporterOptions) {
    this.worker = opts.worker ?? newWorkerIdentity();
    this.intervalMs = opts.intervalMs ?? DEFAULTS.workerMetricsFlushMs;
  }

  /** Starts the periodic flush (the timer does not keep the process alive). */
  start(): this {
    if (this.timer) return this;
    this.timer = setInterval(() => {
      if (this.pending > 0) return;
      this.flush().catch(() => undefined);
    }, this.intervalMs);
    this.timer.unref();
    return this;
  }

  /**
   * Writes the totals now if they changed since the last write; resolves true when it wrote.
   * Calls are queued behind a running write. Rejects when the write fails.
   */
  flush(): Promise<boolean> {
    this.pending++;
    const run = this.queue.then(() => this.writeIfChanged());
    this.queue = run.catch(() => undefined).finally(() => this.pending--);
    return run;
  }

  /** Stops the timer and writes the last totals; a failure is reported, not thrown. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush().catch(() => undefined);
  }

  private async writeIfChanged(): Promise<boolean> {
    const version = this.opts.recorder.version;
    if (version === this.writtenVersion) return false;
    try {
      await upsertWorkerItemMetrics(this.opts.db, this.worker, this.opts.recorder.snapshot());
    } catch (err) {
      if (this.failures++ === 0) {
        this.opts.warn?.(`worker metrics: cannot write worker_item_metrics (retrying every ${this.intervalMs} ms): ${errorText(err)}`);
      }
      throw err;
    }
    if (this.failures > 0) this.opts.warn?.(`worker metrics: written again after ${this.failures} failed attempt(s)`);
    this.failures = 0;
    this.writtenVersion = version;
    return true;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
