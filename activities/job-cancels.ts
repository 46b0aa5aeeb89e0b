/** A running lane's hold on its job's cancellation: see `JobCancellations.enter`. */
export interface LaneCancellation {
  /** Aborts when the lane's own activity is cancelled (any reason) or its job's cancel reached this worker. */
  readonly signal: AbortSignal;
  /** True once the job is being cancelled (this lane's cancel request, or another lane's of the same job here). */
  jobCancelled(): boolean;
  /** How often the lane's running item should heartbeat now (`heartbeatEveryMs`). */
  heartbeatEveryMs(): number;
  /** The lane ended: forget it. */
  leave(): void;
}

/** Heartbeat interval of a lane whose job runs `lanes` lanes on this worker: see `heartbeatEveryMs`. */
const HEARTBEAT_MS = { min: 200, perLane: 10, max: 2000 } as const;

/**
 * How often each of a job's `lanes` lanes on one worker heartbeats: every 200 ms up to 20 lanes, then
 * 10 ms per lane, up to 2 s (at 200 lanes). A cancel reaches the job's lanes here through the first of
 * them to heartbeat after the request, about interval / (lanes + 1) later at spread phases: ~10 ms either
 * way. Every heartbeat is an RPC the Temporal server handles (at 200 lanes every 300 ms: ~650 a second,
 * a quarter of its CPU at concurrency 200); at 2 s it is 100 a second, and a killed worker's lanes are
 * still found by the 10 s heartbeat timeout.
 */
export function heartbeatEveryMs(lanes: number): number {
  return Math.min(HEARTBEAT_MS.max, Math.max(HEARTBEAT_MS.min, lanes * HEARTBEAT_MS.perLane));
}

/**
 * The lanes this worker process runs, by job, so a job's cancel reaches all of them at once.
 *
 * Temporal tells a running activity of a cancel request in the answer to its next heartbeat, and
 * the worker sends a lane's heartbeats at most every 300 ms (`maxHeartbeatThrottleInterval`), so each
 * of a batch's lanes learned of its cancel at a different moment, up to 300 ms after the request,
 * and the batch was cancelled only when the last one did. The workflow requests the cancel of every
 * lane of the job in one workflow task, so the first lane here to hear it stands for all of them:
 * it aborts its neighbours (their provider requests stop at once, as its own does), and each lane
 * ends by returning what it finished, holding the rest (a completion is accepted for an activity
 * whose cancel was requested). Only a cancel request counts: a worker shutdown or a timeout aborts
 * the one lane it concerns.
 */
export class JobCancellations {
  private readonly lanes = new Map<string, Set<AbortController>>();
  private readonly cancelled = new Set<string>();

  /**
   * Registers a lane of `jobId` whose activity is cancelled through `activitySignal`;
   * `cancelRequested` tells, once it aborted, whether that was a cancel request (not a shutdown or timeout).
   */
  enter(jobId: string, activitySignal: AbortSignal, cancelRequested: () => boolean): LaneCancellation {
    const own = new AbortController();
    let lanes = this.lanes.get(jobId);
    if (!lanes) this.lanes.set(jobId, (lanes = new Set()));
    lanes.add(own);
    let requested = false;
    const onAbort = () => {
      if (!cancelRequested()) return;
      requested = true;
      this.cancelJob(jobId);
    };
    if (activitySignal.aborted) onAbort();
    else activitySignal.addEventListener('abort', onAbort, { once: true });
    if (this.cancelled.has(jobId)) own.abort(jobCancelledHere(jobId));
    return {
      signal: AbortSignal.any([activitySignal, own.signal]),
      jobCancelled: () => requested || own.signal.aborted,
      heartbeatEveryMs: () => heartbeatEveryMs(lanes.size),
      leave: () => {
        activitySignal.removeEventListener('abort', onAbort);
        lanes.delete(own);
        if (lanes.size > 0) return;
        this.lanes.delete(jobId);
        // The job's cancel is spent when its last lane here has ended; nothing of it runs after that.
        this.cancelled.delete(jobId);
      },
    };
  }

  /** How many lanes of `jobId` run here (for tests and metrics). */
  running(jobId: string): number {
    return this.lanes.get(jobId)?.size ?? 0;
  }

  private cancelJob(jobId: string): void {
    this.cancelled.add(jobId);
    for (const lane of this.lanes.get(jobId) ?? []) if (!lane.signal.aborted) lane.abort(jobCancelledHere(jobId));
  }
}

function jobCancelledHere(jobId: string): Error {
  const err = new Error(`batch job '${jobId}' is being cancelled (heard by another of its lanes on this worker)`);
  err.name = 'AbortError';
  return err;
}
