import type { JobStatus } from '../src/domain/enums';
import type { JobPatch } from '../src/domain/job-writes';

/**
 * Writes the job row one write at a time, each carrying the latest absolute state: a sync asked
 * for while one is in flight runs once more after it, with what the state says then. Knows
 * nothing of Temporal: `write` is the `syncJob` activity (not cancellable) in the workflow.
 */
export class JobRowWriter {
  private syncing = false;
  private again = false;
  private lastSyncAt = 0;
  /** The status the job row shows (the last write that landed): lanes start items only while it lets them. */
  rowStatus: JobStatus | undefined;

  constructor(
    private readonly write: (patch: JobPatch) => Promise<void>,
    private readonly patch: () => JobPatch,
    private readonly now: () => number,
    private readonly intervalMs: number,
  ) {}

  /** No write in flight. */
  get idle(): boolean {
    return !this.syncing;
  }

  /** Writes the state now, or once more after the write in flight. */
  async sync(): Promise<void> {
    if (this.syncing) {
      this.again = true;
      return;
    }
    this.syncing = true;
    try {
      do {
        this.again = false;
        this.lastSyncAt = this.now();
        const patch = this.patch();
        await this.write(patch);
        this.rowStatus = patch.status;
      } while (this.again);
    } finally {
      this.syncing = false;
    }
  }

  /** Counter writes at a bounded rate; always when the window is empty (end of run, drained pause). */
  syncSoon(windowEmpty: boolean): void {
    if (windowEmpty || (!this.syncing && this.now() - this.lastSyncAt >= this.intervalMs)) void this.sync();
  }
}
