import { describe, expect, it } from 'vitest';
import { heartbeatEveryMs, JobCancellations } from '../../activities/job-cancels';

const JOB_A = '00000000-0000-4000-8000-00000000000a';
const JOB_B = '00000000-0000-4000-8000-00000000000b';

/** An activity's cancellation as the worker delivers it: an abort, and whether it was a cancel request. */
function activity() {
  const controller = new AbortController();
  let requested = false;
  return {
    signal: controller.signal,
    cancelRequested: () => requested,
    cancel: (reason: 'CANCELLED' | 'WORKER_SHUTDOWN' | 'TIMED_OUT') => {
      requested = reason === 'CANCELLED';
      controller.abort(new Error(reason));
    },
  };
}

// How a job's cancel, heard by one of its lanes on a worker, reaches the others there (activities/job-cancels.ts).
describe('JobCancellations', () => {
  it("one lane's cancel request aborts every lane of its job on this worker, and no other job's", () => {
    const cancels = new JobCancellations();
    const [a1, a2, a3, b1] = [activity(), activity(), activity(), activity()];
    const lanesA = [a1, a2, a3].map((a) => cancels.enter(JOB_A, a.signal, a.cancelRequested));
    const laneB = cancels.enter(JOB_B, b1.signal, b1.cancelRequested);
    expect(lanesA.map((l) => l.jobCancelled())).toEqual([false, false, false]);

    a2.cancel('CANCELLED');

    expect(lanesA.map((l) => l.signal.aborted)).toEqual([true, true, true]);
    expect(lanesA.map((l) => l.jobCancelled())).toEqual([true, true, true]);
    // The neighbours' requests stop with an abort error, as the activity's own cancellation does.
    expect((lanesA[0]!.signal.reason as Error).name).toBe('AbortError');
    expect(laneB.signal.aborted).toBe(false);
    expect(laneB.jobCancelled()).toBe(false);
  });

  it('a worker shutdown or a timeout aborts only the lane it concerns, and is not a job cancel', () => {
    const cancels = new JobCancellations();
    const [a1, a2] = [activity(), activity()];
    const [l1, l2] = [a1, a2].map((a) => cancels.enter(JOB_A, a.signal, a.cancelRequested));
    a1.cancel('WORKER_SHUTDOWN');
    expect(l1!.signal.aborted).toBe(true);
    expect(l1!.jobCancelled()).toBe(false);
    expect(l2!.signal.aborted).toBe(false);
    a2.cancel('TIMED_OUT');
    expect(l2!.jobCancelled()).toBe(false);
  });

  it('a lane that starts while its job is being cancelled here starts aborted; once the last lane left, the job is forgotten', () => {
    const cancels = new JobCancellations();
    const [a1, a2, a3] = [activity(), activity(), activity()];
    const l1 = cancels.enter(JOB_A, a1.signal, a1.cancelRequested);
    a1.cancel('CANCELLED');
    const l2 = cancels.enter(JOB_A, a2.signal, a2.cancelRequested);
    expect(l2.jobCancelled()).toBe(true);
    expect(cancels.running(JOB_A)).toBe(2);
    l1.leave();
    l2.leave();
    expect(cancels.running(JOB_A)).toBe(0);
    // A later run of the job (a retry of its failed items) is not cancelled by the spent cancel.
    const l3 = cancels.enter(JOB_A, a3.signal, a3.cancelRequested);
    expect(l3.jobCancelled()).toBe(false);
    expect(l3.signal.aborted).toBe(false);
  });

  it('a lane whose activity was cancelled before it entered counts as cancelled at once', () => {
    const cancels = new JobCancellations();
    const [a1, a2] = [activity(), activity()];
    const l2 = cancels.enter(JOB_A, a2.signal, a2.cancelRequested);
    a1.cancel('CANCELLED');
    const l1 = cancels.enter(JOB_A, a1.signal, a1.cancelRequested);
    expect(l1.jobCancelled()).toBe(true);
    expect(l2.jobCancelled()).toBe(true);
  });

  it("a lane heartbeats every 200 ms up to 20 of its job's lanes here, then 10 ms a lane, at most every 2 s", () => {
    expect([1, 20, 21, 50, 200, 400].map(heartbeatEveryMs)).toEqual([200, 200, 210, 500, 2000, 2000]);
    const cancels = new JobCancellations();
    const lanes = Array.from({ length: 50 }, () => activity()).map((a) => cancels.enter(JOB_A, a.signal, a.cancelRequested));
    const other = cancels.enter(JOB_B, activity().signal, () => false);
    expect(lanes[0]!.heartbeatEveryMs()).toBe(500);
    expect(other.heartbeatEveryMs()).toBe(200);
    for (const lane of lanes.slice(10)) lane.leave();
    expect(lanes[0]!.heartbeatEveryMs()).toBe(200);
  });
});
