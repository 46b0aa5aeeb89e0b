import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../../../src/domain/enums';
import { BatchState, DEFAULT_RUN_OPTIONS, MAX_PAGE_SIZE, runOptions } from '../../../workflows/batch-state';
import type { BatchWorkflowInput, JobSettings } from '../../../workflows/contract';

const JOB = '00000000-0000-4000-8000-000000000001';
const settings = (over: Partial<JobSettings> = {}): JobSettings => ({
  name: 'a batch',
  status: 'queued',
  tier: 'template',
  totalItems: 10,
  concurrency: 2,
  errorHandling: 'continue',
  toleratedFailurePercent: null,
  maxCostUsd: null,
  spentUsd: 0,
  ...over,
});

/** A state on a clock the test moves, loaded with `job`. */
function makeState(job: Partial<JobSettings> = {}, input: Partial<BatchWorkflowInput> = {}) {
  let now = 1_000_000;
  const statuses: JobStatus[] = [];
  const state = new BatchState({ jobId: JOB, ...input }, { now: () => now, onStatus: (s) => statuses.push(s) });
  state.loaded(settings(job));
  return { state, statuses, tick: (ms: number) => (now += ms), now: () => now };
}
const ref = (position: number) => ({ id: `item-${position}`, position });

describe('BatchState', () => {
  it('fills options over the defaults', () => {
    expect(runOptions(undefined)).toEqual(DEFAULT_RUN_OPTIONS);
    expect(runOptions({ pageSize: 7, itemsPerRun: undefined })).toEqual({ ...DEFAULT_RUN_OPTIONS, pageSize: 7 });
  });

  it('starts queued, becomes processing at the first lane (once), and counts outcomes', () => {
    const { state, statuses } = makeState();
    expect(state.status).toBe('queued');
    expect(state.laneStarting()).toBe(true);
    expect(state.laneStarting()).toBe(false);
    expect(state.inFlight).toBe(2);
    expect(statuses).toEqual(['processing']);
    state.itemEnded({ outcome: 'completed', position: 1 });
    state.itemEnded({ outcome: 'failed', position: 2, errorMessage: 'bad' });
    state.itemEnded({ outcome: 'cancelled', position: 3 });
    expect(state.counters).toEqual({ successful: 1, failed: 1 });
    expect(state.processed).toBe(2);
  });

  it('the spend cap: items add their cost; reaching the cap pauses (once) with the reason; resume waits for a higher cap', () => {
    const { state, statuses } = makeState({ maxCostUsd: 0.05, spentUsd: 0.02 });
    state.spendCapOn = true;
    state.laneStarting();
    state.itemEnded({ outcome: 'completed', position: 1, costUsd: 0.02 });
    expect(state.pauseAtSpendCap()).toBe(false);
    expect(state.jobPatch().error_message).toBeNull();
    state.itemEnded({ outcome: 'completed', position: 2, costUsd: 0.015 });
    expect(state.spentUsd).toBeCloseTo(0.055, 10);
    expect(state.pauseAtSpendCap()).toBe(true);
    expect(state.pauseAtSpendCap()).toBe(false);
    expect(statuses).toEqual(['processing', 'paused']);
    expect(state.jobPatch()).toMatchObject({
      status: 'paused',
      error_message: 'spend cap reached: $0.0550 spent of $0.0500 (raise maxCostUsd, then resume)',
    });
    expect(state.resume()).toBe(false);
    expect(state.setSpendCap(-1)).toBe(false);
    expect(state.setSpendCap(0.1)).toBe(true);
    expect(state.resume()).toBe(true);
    expect(state.jobPatch()).toMatchObject({ status: 'processing', error_message: null });
    // Lowered under what was spent: the next check pauses again.
    state.setSpendCap(0.01);
    expect(state.pauseAtSpendCap()).toBe(true);
  });

  it('near the spend cap lanes shrink to what the cap leaves room for, shared by the window', () => {
    const { state } = makeState({ maxCostUsd: 1, totalItems: 1000, concurrency: 2 });
    state.laneTimed(10, 1000); // 100 ms an item: lanes of up to 25 without a cap
    expect(state.laneSize()).toBe(25);
    state.spendCapOn = true;
    expect(state.laneSize()).toBe(1); // no item cost known yet
    state.itemEnded({ outcome: 'completed', position: 1, costUsd: 0.01 });
    expect(state.laneSize()).toBe(25); // (1 - 0.01) / 0.01 / 2 = 49 items of room per lane
    for (let p = 2; p <= 90; p++) state.itemEnded({ outcome: 'completed', position: p, costUsd: 0.01 });
    expect(state.laneSize()).toBe(4); // $0.10 left: 10 items, 2 lanes
  });

  it('without the patch (a run recorded before the cap), the cap is never looked at and the row keeps its error message', () => {
    const { state } = makeState({ maxCostUsd: 0.01, spentUsd: 5 });
    expect(state.overSpendCap).toBe(false);
    expect(state.pauseAtSpendCap()).toBe(false);
    expect(state.jobPatch()).not.toHaveProperty('error_message');
  });

  it("with 'stop', the first failure sets the stop reason (once) and halts dispatch", () => {
    const { state } = makeState({ errorHandling: 'stop' });
    expect(state.stopAfterFailure).toBe(true);
    expect(state.itemEnded({ outcome: 'failed', position: 4, errorMessage: 'template broke' })).toBe(true);
    expect(state.itemEnded({ outcome: 'failed', position: 5 })).toBe(false);
    expect(state.stopReason).toBe("error handling 'stop': item 4 failed: template broke");
    expect(state.halted).toBe(true);
    expect(state.finalStatus()).toEqual({ status: 'failed', errorMessage: state.stopReason });
    expect(state.jobPatch().error_message).toBe(state.stopReason);
  });

  it('stops once failures exceed the tolerated share of all items, not before', () => {
    const { state } = makeState({ toleratedFailurePercent: 20, totalItems: 10 });
    expect(state.stopAfterFailure).toBe(true);
    expect(state.itemEnded({ outcome: 'failed', position: 1 })).toBe(false);
    expect(state.itemEnded({ outcome: 'failed', position: 2 })).toBe(false);
    expect(state.itemEnded({ outcome: 'failed', position: 3 })).toBe(true);
    expect(state.stopReason).toBe('failures exceeded the tolerated 20% (3 of 10 items failed)');
    expect(makeState({ toleratedFailurePercent: 100 }).state.stopAfterFailure).toBe(false);
  });

  it('ends completed, failed when every item failed, cancelled when asked', () => {
    const done = makeState().state;
    done.itemEnded({ outcome: 'completed', position: 1 });
    done.itemEnded({ outcome: 'failed', position: 2 });
    expect(done.finalStatus()).toEqual({ status: 'completed' });
    const allFailed = makeState({ totalItems: 2 }).state;
    allFailed.itemEnded({ outcome: 'failed', position: 1 });
    allFailed.itemEnded({ outcome: 'failed', position: 2 });
    expect(allFailed.finalStatus()).toEqual({ status: 'failed', errorMessage: 'every item failed (2 of 2)' });
    const cancelled = makeState().state;
    expect(cancelled.cancel()).toBe(true);
    expect(cancelled.cancel()).toBe(false);
    expect(cancelled.finalStatus()).toEqual({ status: 'cancelled' });
    expect(makeState().state.finalStatus()).toEqual({ status: 'completed' });
  });

  it('pause and resume apply only where the status table allows them', () => {
    const { state, statuses } = makeState();
    expect(state.resume()).toBe(false);
    expect(state.pause()).toBe(true);
    expect(state.pause()).toBe(false);
    expect(state.canStart('processing')).toBe(false);
    // Paused before the first item: resume goes back to queued.
    expect(state.resume()).toBe(true);
    expect(state.status).toBe('queued');
    expect(state.canStart('paused')).toBe(false);
    expect(state.canStart('queued')).toBe(true);
    state.laneStarting();
    state.pause();
    state.resume();
    expect(state.status).toBe('processing');
    expect(statuses).toEqual(['paused', 'queued', 'processing', 'paused', 'processing']);
    state.cancel();
    expect(state.pause()).toBe(false);
    const ending = makeState().state;
    ending.ending = true;
    expect(ending.pause()).toBe(false);
    expect(ending.cancel()).toBe(false);
    expect(ending.setConcurrency(3)).toBe(false);
  });

  it('takes a concurrency between 1 and 200 only', () => {
    const { state } = makeState();
    expect(state.windowSize()).toBe(2);
    for (const bad of [0, 201, 2.5, Number.NaN]) expect(state.setConcurrency(bad)).toBe(false);
    expect(state.setConcurrency(7)).toBe(true);
    expect(state.windowSize()).toBe(7);
    expect(state.jobPatch().concurrent_processing).toBe(7);
  });

  it('ETA: active time per processed item times the items left; none while paused; paused time does not count', () => {
    const { state, tick } = makeState({ totalItems: 10 });
    state.laneStarting();
    expect(state.etaSeconds()).toBeNull();
    tick(4000);
    state.itemEnded({ outcome: 'completed', position: 1 });
    state.itemEnded({ outcome: 'completed', position: 2 });
    // 4 s for 2 items, 8 left: 16 s.
    expect(state.etaSeconds()).toBe(16);
    state.pause();
    expect(state.etaSeconds()).toBeNull();
    tick(60_000);
    state.resume();
    expect(state.etaSeconds()).toBe(16);
    expect(state.nextRunInput(undefined).carried?.activeMs).toBe(4000);
  });

  it('sizes lanes: 1 until item time is known, then to the target, shrinking near the end of the run', () => {
    const { state } = makeState({ totalItems: 1000, concurrency: 4 });
    expect(state.laneSize()).toBe(1);
    state.laneTimed(1, 100);
    // 4000 ms / 100 ms = 40, capped at 25.
    expect(state.laneSize()).toBe(25);
    state.laneTimed(1, 2000);
    // Moving average 0.7 * 100 + 0.3 * 2000 = 670 ms: floor(4000 / 670) = 5.
    expect(state.laneSize()).toBe(5);
    // 10 left in the job over a window of 4: lanes of ceil(10 / 4) = 3.
    state.cursor = 990;
    expect(state.laneSize()).toBe(3);
    // Slow items go one per lane.
    state.laneTimed(1, 10_000);
    state.laneTimed(1, 10_000);
    expect(state.laneSize()).toBe(1);
    // A lane that ran nothing tells nothing.
    const fresh = makeState().state;
    fresh.laneTimed(0, 5000);
    expect(fresh.laneSize()).toBe(1);
  });

  it('sizes lanes by the window with lanesByWindow: 100 ms a slot, at least laneTargetMs, at most maxLaneMs', () => {
    const { state } = makeState({ totalItems: 100_000, concurrency: 200 });
    state.laneTimed(1, 2000);
    // Without it (runs recorded before): 4000 ms / 2000 ms = 2 items at any concurrency.
    expect(state.laneMs()).toBe(4000);
    expect(state.laneSize()).toBe(2);
    state.sizeLanesByWindow();
    // 200 slots x 100 ms = 20 s lanes: 10 items of 2 s.
    expect(state.laneMs()).toBe(20_000);
    expect(state.laneSize()).toBe(10);
    // A window of 20 keeps 4 s lanes; 1,000 slots are held to 20 s.
    state.setConcurrency(20);
    expect(state.laneMs()).toBe(4000);
    expect(state.laneSize()).toBe(2);
    const wide = makeState({ totalItems: 100_000, concurrency: 200 }, { options: { maxLaneMs: 8000, laneMsPerSlot: 50 } }).state;
    wide.sizeLanesByWindow();
    expect(wide.laneMs()).toBe(8000);
    // Near the job's end lanes still shrink to what is left over the window: 600 left / 200 = 3.
    state.setConcurrency(200);
    state.cursor = 99_400;
    expect(state.laneSize()).toBe(3);
    // Items slower than half a lane go one per lane.
    state.cursor = 0;
    for (let i = 0; i < 10; i++) state.laneTimed(1, 30_000);
    expect(state.laneSize()).toBe(1);
  });
  it('sizes pages by the window with pagesByWindow: a window of lanes at once, 100 to 1,000 items; a page size in the input is kept', () => {
    const { state } = makeState({ totalItems: 100_000, concurrency: 200 });
    state.sizeLanesByWindow();
    // Without it (runs recorded before): pages of 100 at any concurrency.
    expect(state.pageSize()).toBe(100);
    state.pagesByWindow = true;
    // Before the first results lanes carry one item: a page for the window's 200 lanes.
    expect(state.pageSize()).toBe(200);
    // Lanes of 10 items of 2 s: 2,000 items a window, held to 1,000.
    state.laneTimed(1, 2000);
    expect(state.laneSize()).toBe(10);
    expect(state.pageSize()).toBe(MAX_PAGE_SIZE);
    // A small window keeps the default: 3 lanes of 2 items.
    state.setConcurrency(3);
    expect(state.pageSize()).toBe(100);
    const given = makeState({ totalItems: 100_000, concurrency: 200 }, { options: { pageSize: 7 } }).state;
    given.pagesByWindow = true;
    expect(given.pageSize()).toBe(7);
  });
  it('by the window, runs end by their history (eventsPerRun), their last lanes shrink towards it, and a job about to end ends in its run', () => {
    let events = 0;
    const state = new BatchState({ jobId: JOB }, { now: () => 0, historyLength: () => events });
    state.loaded(settings({ totalItems: 100_000, concurrency: 200 }));
    expect([state.opts.lanesPerRun, state.opts.itemsPerRun]).toEqual([500, 5000]);
    state.sizeLanesByWindow();
    expect([state.opts.lanesPerRun, state.opts.itemsPerRun, state.opts.eventsPerRun]).toEqual([2000, 20_000, 3500]);
    const given = makeState({}, { options: { lanesPerRun: 7 } }).state;
    given.sizeLanesByWindow();
    expect([given.opts.lanesPerRun, given.opts.itemsPerRun]).toEqual([7, 20_000]);

    state.laneTimed(1, 2000);
    state.lanesThisRun = 300;
    events = 1500; // 5 events a lane so far: room for 400 more lanes of 10 items, 4,000 items over 200 slots
    expect(state.laneSize()).toBe(10);
    events = 3000; // 10 events a lane: room for 50 lanes, 500 items over 200 slots
    expect(state.laneSize()).toBe(3);
    events = 3450; // room for 4 lanes
    expect(state.laneSize()).toBe(1);
    expect(state.runIsFull(false)).toBe(false);
    events = 3500;
    expect(state.runIsFull(false)).toBe(true);
    // 400 items left (2 a slot): the job ends in this run, lanes sized by what is left of the job.
    state.cursor = 99_600;
    expect(state.runIsFull(false)).toBe(false);
    expect(state.runIsFull(true)).toBe(false);
    expect(state.laneSize()).toBe(2);
    // ... unless the history is already twice its budget.
    events = 7000;
    expect(state.runIsFull(false)).toBe(true);
    // Without lanes by the window the history is not looked at.
    const older = new BatchState({ jobId: JOB }, { now: () => 0, historyLength: () => 9000 });
    older.loaded(settings({ totalItems: 100_000, concurrency: 200 }));
    expect(older.runIsFull(false)).toBe(false);
  });

  it("planned by the history, runs end by events or bytes, not by Temporal's suggestion, and a job ends in its run when its rest fits", () => {
    let events = 0;
    let bytes = 0;
    const state = new BatchState({ jobId: JOB }, { now: () => 0, historyLength: () => events, historyBytes: () => bytes });
    state.loaded(settings({ totalItems: 100_000, concurrency: 200 }));
    state.sizeLanesByWindow();
    state.planRunsByHistory();
    const { lanesPerRun, itemsPerRun, eventsPerRun, bytesPerRun } = state.opts;
    expect([lanesPerRun, itemsPerRun, eventsPerRun, bytesPerRun]).toEqual([10_000, 100_000, 8000, 4 * 1024 * 1024]);
    // Options in the input stay as given.
    const given = makeState({}, { options: { eventsPerRun: 50, lanesPerRun: 7 } }).state;
    given.sizeLanesByWindow();
    given.planRunsByHistory();
    expect([given.opts.eventsPerRun, given.opts.lanesPerRun, given.opts.itemsPerRun]).toEqual([50, 7, 100_000]);

    state.laneTimed(1, 2000); // 2 s items at C 200: lanes of 20 s, 10 items
    state.lanesThisRun = 1000;
    events = 3000; // 3 events a lane: room for 1,666 more lanes of 10 items
    expect(state.laneSize()).toBe(10);
    // 5 events a lane: room for 600 lanes, which carry ~1,490 items when each takes its share of the rest over
    // 200 slots (guided self-scheduling: the last 200 lanes one item each): lanes of 8 now.
    events = 5000;
    expect(state.laneSize()).toBe(8);
    events = 7800; // ~7.8 events a lane: room for 25 lanes, one item each
    expect(state.laneSize()).toBe(1);
    // Temporal suggests continue-as-new at 4,096 events: a run planned by its history does not take it.
    expect(state.runIsFull(true)).toBe(false);
    events = 8000;
    expect(state.runIsFull(false)).toBe(true);
    // Bytes end a run too, whichever budget is further used.
    events = 4000;
    bytes = 2 * 1024 * 1024;
    expect(state.runIsFull(false)).toBe(false);
    bytes = 4 * 1024 * 1024;
    expect(state.runIsFull(false)).toBe(true);
    expect(state.laneSize()).toBe(1);

    // 300 items left: 7,000 events + 300 one-item lanes at 7 events each = 9,100 <= 1.2 x 8,000: the job ends in this run.
    bytes = 0;
    events = 7000;
    state.cursor = 99_700;
    expect(state.runIsFull(false)).toBe(false);
    events = 8100; // 8,100 + 300 x 8.1 = 10,530 > 9,600: it does not fit, the run is full
    expect(state.runIsFull(false)).toBe(true);
    events = 7200; // 7,200 + 300 x 7.2 = 9,360: fits, lanes sized by what is left of the job
    expect(state.runIsFull(false)).toBe(false);
    expect(state.laneSize()).toBe(2);

    // Lanes by the window alone (older runs) still take the suggestion.
    const older = new BatchState({ jobId: JOB }, { now: () => 0, historyLength: () => 100 });
    older.loaded(settings({ totalItems: 100_000, concurrency: 200 }));
    older.sizeLanesByWindow();
    expect(older.runIsFull(true)).toBe(true);
  });

  it('held items go out first by position, and the cursor of the next run moves back to them', () => {
    const { state } = makeState({ totalItems: 20 });
    for (const p of [1, 2, 3, 4, 5, 6]) state.taken(ref(p));
    expect(state.cursor).toBe(6);
    expect(state.takenThisRun).toBe(6);
    expect(state.resumeCursor()).toBe(6);
    state.hold([ref(5), ref(3)]);
    expect(state.resumeCursor()).toBe(2);
    expect(state.progress().cursor).toBe(2);
    expect(state.takeHeld(1)).toEqual([ref(3)]);
    expect(state.resumeCursor()).toBe(4);
    expect(state.nextRunInput({ pageSize: 3 })).toMatchObject({ jobId: JOB, cursor: 4, options: { pageSize: 3 } });
  });

  it('counts settled items by what the database says: queued and processing count nothing', () => {
    const { state } = makeState({ errorHandling: 'stop' });
    expect(state.outcomeFound(ref(1), { id: 'item-1', position: 1, status: 'completed', error_message: null })).toBe(false);
    expect(state.outcomeFound(ref(2), { id: 'item-2', position: 2, status: 'queued', error_message: null })).toBe(false);
    expect(state.outcomeFound(ref(3), undefined)).toBe(false);
    expect(state.outcomeFound(ref(4), { id: 'item-4', position: 4, status: 'failed', error_message: 'gave up' })).toBe(true);
    expect(state.counters).toEqual({ successful: 1, failed: 1 });
    expect(state.stopReason).toBe("error handling 'stop': item 4 failed: gave up");
  });

  it('a run is full after its items, its lanes, or when Temporal suggests continue-as-new', () => {
    const { state } = makeState({}, { options: { itemsPerRun: 2, lanesPerRun: 3 } });
    expect(state.runIsFull(false)).toBe(false);
    expect(state.runIsFull(true)).toBe(true);
    state.taken(ref(1));
    state.taken(ref(2));
    expect(state.runIsFull(false)).toBe(true);
    const lanes = makeState({}, { options: { lanesPerRun: 2 } }).state;
    lanes.laneStarting();
    lanes.laneStarting();
    expect(lanes.runIsFull(false)).toBe(true);
  });

  it('carries its state into the next run and takes it back', () => {
    const first = makeState({ totalItems: 50 }, { options: { itemsPerRun: 5 } });
    first.state.laneStarting();
    first.state.setConcurrency(9);
    first.state.laneTimed(2, 300);
    first.tick(1000);
    first.state.itemEnded({ outcome: 'completed', position: 1 });
    first.state.pause();
    const next = first.state.nextRunInput({ itemsPerRun: 5 });
    expect(next.carried).toEqual({ paused: true, concurrency: 9, activeMs: 1000, run: 2, startedAt: 1_000_000, itemMs: 150 });
    const second = makeState({ totalItems: 50, concurrency: 2 }, next);
    expect(second.state.status).toBe('paused');
    expect(second.state.run).toBe(2);
    expect(second.state.windowSize()).toBe(9);
    expect(second.state.counters).toEqual({ successful: 1, failed: 0 });
    expect(second.state.jobPatch()).toMatchObject({
      status: 'paused',
      started_at: new Date(1_000_000).toISOString(),
      successful_items: 1,
      completed_items: 1,
    });
  });

  it('knows a job row that already ended', () => {
    expect(makeState({ status: 'cancelled' }).state.jobEnded).toBe(true);
    expect(makeState({ status: 'paused' }).state.jobEnded).toBe(false);
  });
});
