import type { JobStatus } from '../src/domain/enums';
import type { JobPatch } from '../src/domain/job-writes';
import { MAX_CONCURRENCY } from '../src/domain/limits';
import type {
  BatchCounters,
  BatchResult,
  BatchRunOptions,
  BatchWorkflowInput,
  ItemOutcome,
  ItemRef,
  JobSettings,
  PollChunksResult,
  ProcessItemResult,
} from './contract';
import type { BatchProgress } from './messages';

/** Most items a page sized by the window holds (`BatchState.pageSize`): 1,000 refs are some 60 kB of payload. */
export const MAX_PAGE_SIZE = 1000;

/** Defaults of `BatchRunOptions`. */
export const DEFAULT_RUN_OPTIONS: Readonly<Required<BatchRunOptions>> = {
  pageSize: 100,
  itemsPerRun: 5000,
  lanesPerRun: 500,
  progressIntervalMs: 1000,
  maxItemAttempts: 5,
  maxLaneSize: 25,
  laneTargetMs: 4000,
  laneMsPerSlot: 100,
  maxLaneMs: 20_000,
  eventsPerRun: 3500,
  bytesPerRun: 4 * 1024 * 1024,
};

/**
 * Defaults that change with lanes sized by the window (`BatchState.sizeLanesByWindow`). A run drains its window
 * before it continues-as-new, and each slot idles from its last lane's end to the run's end: with lanes of up to
 * 20 s at concurrency 200, a run of 500 lanes (50 s of work) lost ~10 s that way. By the window, a run ends by its
 * history (`eventsPerRun`), which its last lanes shrink towards, well before these bounds.
 */
export const WINDOW_RUN_DEFAULTS: Readonly<Pick<RunOptions, 'itemsPerRun' | 'lanesPerRun'>> = {
  itemsPerRun: 20_000,
  lanesPerRun: 2_000,
};

/**
 * Defaults that change with runs planned by their history (`BatchState.planRunsByHistory`). Every continue-as-new
 * drains the window: at concurrency 200 with 2 s items its last lanes (up to 20 s) ended over ~9 s while slots
 * emptied, so a 12,000-item batch in three runs of 3,500 events ran at 0.87 of the limit (0.93 in two runs of
 * 8,000; 0.96 with the last lanes self-scheduled, `itemsOverLanes`). A run now ends by its history alone (8,000
 * events, under the 10,240 at which Temporal warns, or `bytesPerRun`), which the counts here never reach first.
 */
export const HISTORY_RUN_DEFAULTS: Readonly<Pick<RunOptions, 'itemsPerRun' | 'lanesPerRun' | 'eventsPerRun'>> = {
  itemsPerRun: 100_000,
  lanesPerRun: 10_000,
  eventsPerRun: 8000,
};

/**
 * With runs planned by their history, a job whose rest fits in its run ends there if the estimate says the
 * history stays within this share of its budget (9,600 events of 8,000), rather than drain for a short last run.
 */
export const END_OF_JOB_BUDGET = 1.2;

/** Options with every default filled in. */
export type RunOptions = Required<BatchRunOptions>;

/** The input's options over the defaults (`base`: `DEFAULT_RUN_OPTIONS`, or those with other defaults). */
export function runOptions(options: BatchRunOptions | undefined, base: RunOptions = DEFAULT_RUN_OPTIONS): RunOptions {
  const out = { ...base };
  for (const [key, value] of Object.entries(options ?? {}) as Array<[keyof RunOptions, number | undefined]>) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** What the state needs from outside: the clock (the workflow's `Date.now`) and who hears status changes. */
export interface BatchStateEnv {
  now: () => number;
  /** Events in the run's history so far (the workflow's `workflowInfo().historyLength`); default 0. */
  historyLength?: () => number;
  /** Bytes of the run's history so far (the workflow's `workflowInfo().historySize`); default 0. */
  historyBytes?: () => number;
  /** Called after each change of status (the workflow upserts its search attribute). */
  onStatus?: (status: JobStatus) => void;
}

type FinalStatus = BatchResult['status'];

/**
 * Everything one run of the batch workflow knows and decides, with no Temporal in it: counters,
 * status, active time and ETA, the held queue (items lanes did not start) and the cursor, lane
 * sizing, the stop reason, the final status, and what is written to the job row. The workflow
 * feeds it events (signals, lane results) and acts on its answers; a unit test drives it directly.
 */
export class BatchState {
  readonly jobId: string;
  readonly run: number;
  /** The run's options: the input's over the defaults (which `sizeLanesByWindow` changes, in place). */
  readonly opts: RunOptions;
  private readonly options: BatchRunOptions | undefined;
  readonly counters: BatchCounters;
  /** Settings of the job row, filled by `loadJob`. */
  readonly job: JobSettings = {
    name: '',
    status: 'queued',
    tier: 'template',
    totalItems: 0,
    concurrency: 1,
    errorHandling: 'continue',
    toleratedFailurePercent: null,
    maxCostUsd: null,
    spentUsd: 0,
  };
  /**
   * The spend cap applies (the workflow's `patched('spend-cap')`: runs recorded before the cap
   * existed replay without it). Off, `maxCostUsd` is never looked at.
   */
  spendCapOn = false;
  /**
   * Lanes are sized by the window too (`laneMs`), runs are longer (`WINDOW_RUN_DEFAULTS`) and lanes shrink
   * towards the run's end (`laneSize`): see `sizeLanesByWindow`.
   */
  lanesByWindow = false;
  /**
   * Pages are sized by the window too (the workflow's `patched('pages-by-window')`): see `pageSize`. Runs recorded
   * before replay with pages of `opts.pageSize`.
   */
  pagesByWindow = false;
  /** Runs end by their history's events and bytes alone (see `planRunsByHistory`). */
  runsByHistory = false;

  /**
   * Turns on lanes sized by the window (the workflow's `patched('lanes-by-window')`; runs recorded before replay
   * with lanes of `laneTargetMs` at any concurrency and the older run lengths). Call before the first lane.
   */
  sizeLanesByWindow(): void {
    this.lanesByWindow = true;
    Object.assign(this.opts, runOptions(this.options, { ...DEFAULT_RUN_OPTIONS, ...WINDOW_RUN_DEFAULTS }));
  }
  /**
   * Turns on runs planned by their history (the workflow's `patched('runs-by-history')`, after `lanes-by-window`;
   * runs recorded before replay with the older run lengths): `HISTORY_RUN_DEFAULTS`, a budget of events and bytes
   * (`runBudgetUsed`) instead of Temporal's continue-as-new suggestion (which comes at 4,096 events), and a job
   * ends in its run when the estimate of its rest fits (`END_OF_JOB_BUDGET`). Call before the first lane.
   */
  planRunsByHistory(): void {
    this.runsByHistory = true;
    Object.assign(this.opts, runOptions(this.options, { ...this.opts, ...HISTORY_RUN_DEFAULTS }));
  }
  /** Why the job is paused when the spend cap paused it (cleared by a resume). */
  capReason: string | undefined;
  /** What this run's items cost, and how many reported a cost: the average sizes lanes near the cap. */
  private costThisRun = { usd: 0, items: 0 };

  /** USD the job has cost: the database's figure at the run's start plus what this run's items cost. */
  get spentUsd(): number {
    return this.job.spentUsd + this.costThisRun.usd;
  }
  /** Position of the last item taken from the pages. */
  cursor: number;
  paused: boolean;
  /** The concurrency an operator set; after the job is loaded, always set. */
  concurrency: number | undefined;
  /** Lanes running: each runs one item at a time, so this is also the items in flight. */
  inFlight = 0;
  cancelRequested = false;
  stopReason: string | undefined;
  /** Set once the final status is being written: later signals must not write over it. */
  ending = false;
  /** Workflow time of the first dispatch, written as started_at by every sync (so it is set once). */
  startedAt: number | undefined;
  status: JobStatus;
  /** Items lanes held (did not start: a pause or stop reached them, or a retried lane ran only its failed item), by position: they go out first. */
  readonly held: ItemRef[] = [];
  /** New items taken from pages in this run. */
  takenThisRun = 0;
  /** Lanes started in this run. */
  lanesThisRun = 0;
  private activeMs: number;
  private activeSince: number | undefined;
  /** How long one item takes in a lane (moving average of lane results). */
  private itemMs: number | undefined;
  private readonly env: BatchStateEnv;
  /** A provider-batch job has nothing more for the provider (carried): this run goes direct only. */
  providerBatchesDone: boolean;
  /** What the last poll of a provider-batch job said (undefined in direct mode). */
  provider: { open: number; pendingRequests: number } | undefined;

  constructor(input: BatchWorkflowInput, env: BatchStateEnv) {
    this.env = env;
    this.jobId = input.jobId;
    this.options = input.options;
    this.opts = runOptions(input.options);
    this.run = input.carried?.run ?? 1;
    this.counters = { ...(input.counters ?? { successful: 0, failed: 0 }) };
    this.cursor = input.cursor ?? 0;
    this.paused = input.carried?.paused ?? false;
    this.concurrency = input.carried?.concurrency;
    this.startedAt = input.carried?.startedAt;
    this.status = this.paused ? 'paused' : this.startedAt === undefined ? 'queued' : 'processing';
    this.activeMs = input.carried?.activeMs ?? 0;
    this.activeSince = this.status === 'processing' ? env.now() : undefined;
    this.itemMs = input.carried?.itemMs;
    this.providerBatchesDone = input.carried?.providerBatchesDone ?? false;
  }

  /** The job sends its items to the provider's batch API (and this run still has chunks to send or poll). */
  get inProviderBatchPhase(): boolean {
    return this.job.executionMode === 'provider-batch' && this.job.providerBatch !== undefined && !this.providerBatchesDone;
  }

  /** A chunk went out; true when it is the job's first dispatch (status becomes processing). */
  chunkSubmitted(): boolean {
    if (this.startedAt !== undefined) return false;
    this.startedAt = this.env.now();
    this.setStatus('processing');
    return true;
  }

  /**
   * A poll's figures: the job's counters and spend as the database has them (absolute: ingestion is idempotent,
   * so a retried poll counts nothing twice), and whether the error policy now stops the job (true: write it at once).
   */
  providerPolled(p: PollChunksResult): boolean {
    this.provider = { open: p.open, pendingRequests: p.pendingRequests };
    this.counters.successful = p.successful;
    this.counters.failed = p.failed;
    this.job.spentUsd = p.spentUsd - this.costThisRun.usd;
    if (this.stopReason || p.failed === 0) return false;
    const { errorHandling, toleratedFailurePercent, totalItems } = this.job;
    if (errorHandling === 'stop') {
      const first = p.firstFailure;
      this.stopReason = `error handling 'stop': ${first ? `item ${first.position} failed: ${first.message}` : `${p.failed} item(s) failed`}`;
      return true;
    }
    if (toleratedFailurePercent !== null && p.failed * 100 > toleratedFailurePercent * totalItems) {
      this.stopReason = `failures exceeded the tolerated ${toleratedFailurePercent}% (${p.failed} of ${totalItems} items failed)`;
      return true;
    }
    return false;
  }

  /** Takes the job row's settings (start of a run). */
  loaded(job: JobSettings): void {
    Object.assign(this.job, job);
    this.concurrency ??= job.concurrency;
  }

  /** The spend cap is set and the job has cost at least that much. */
  get overSpendCap(): boolean {
    return this.spendCapOn && this.job.maxCostUsd !== null && this.spentUsd >= this.job.maxCostUsd;
  }

  /**
   * Pauses the job when it has reached its spend cap (after a lane's results, at a run's start, or
   * when the cap is lowered); true when it paused it now. Items in flight finish and are counted.
   */
  pauseAtSpendCap(): boolean {
    if (!this.overSpendCap) return false;
    const reason = `spend cap reached: $${this.spentUsd.toFixed(4)} spent of $${this.job.maxCostUsd!.toFixed(4)} (raise maxCostUsd, then resume)`;
    // Already paused (by an operator, or by the cap in an earlier run): the row keeps saying why.
    if (this.paused) {
      this.capReason ??= reason;
      return false;
    }
    if (!this.pause()) return false;
    this.capReason = reason;
    return true;
  }

  /** `setSpendCap` signal: a new cap (null: none); false when it does not apply. */
  setSpendCap(maxCostUsd: number | null): boolean {
    if (this.ending || (maxCostUsd !== null && !(maxCostUsd > 0))) return false;
    this.job.maxCostUsd = maxCostUsd;
    return true;
  }

  /** The row already ended (e.g. a duplicate start): the run has nothing to do. */
  get jobEnded(): boolean {
    return this.job.status === 'completed' || this.job.status === 'failed' || this.job.status === 'cancelled';
  }

  /** With a stop policy a lane ends at its first failure, so the workflow decides at once whether the job stops. */
  get stopAfterFailure(): boolean {
    return this.job.errorHandling === 'stop' || (this.job.toleratedFailurePercent !== null && this.job.toleratedFailurePercent < 100);
  }

  windowSize(): number {
    return this.concurrency ?? this.job.concurrency;
  }

  get processed(): number {
    return this.counters.successful + this.counters.failed;
  }

  /** The dispatch loop stops taking items: cancelled or stopping. */
  get halted(): boolean {
    return this.cancelRequested || this.stopReason !== undefined;
  }

  /** Lanes may start: not paused, and the job row no longer says paused (a lane's claim would refuse). */
  canStart(rowStatus: JobStatus | undefined): boolean {
    return !this.paused && rowStatus !== 'paused';
  }

  /**
   * The run has done its share: continue-as-new to keep the history bounded. By the window, also once its
   * history reaches `eventsPerRun`, except when the rest of the job ends in this run (`endsInThisRun`).
   */
  runIsFull(continueAsNewSuggested: boolean): boolean {
    const { itemsPerRun, lanesPerRun, eventsPerRun } = this.opts;
    if (this.lanesByWindow && this.endsInThisRun()) return false;
    const suggested = continueAsNewSuggested && !this.runsByHistory;
    const full = this.takenThisRun >= itemsPerRun || this.lanesThisRun >= lanesPerRun || suggested;
    if (full || !this.lanesByWindow) return full;
    return this.runsByHistory ? this.runBudgetUsed() >= 1 : this.historyLength() >= eventsPerRun;
  }

  /**
   * By the window: at most two items a slot are left to take, and the history has room for them (under twice
   * `eventsPerRun`), so the job ends in this run rather than draining its window for a run of a few lanes: at
   * concurrency 200 that is at most ~400 more lanes, ~2,500 events, well inside Temporal's limits (50,000).
   */
  private endsInThisRun(): boolean {
    const left = this.held.length + Math.max(0, this.job.totalItems - this.cursor);
    if (left > 2 * this.windowSize()) return false;
    if (!this.runsByHistory) return this.historyLength() < 2 * this.opts.eventsPerRun;
    // Planned by the history: each item left as a lane of its own (the most lanes it can take), at what lanes cost so far.
    const used = this.runBudgetUsed();
    return used + left * this.budgetPerLane(used) <= END_OF_JOB_BUDGET;
  }

  /** By the window: the lanes this run may still start before its history reaches `eventsPerRun`, at what its lanes cost so far. */
  private lanesLeftInRun(): number {
    const { lanesPerRun, eventsPerRun } = this.opts;
    const byCount = Math.max(0, lanesPerRun - this.lanesThisRun);
    if (this.endsInThisRun()) return byCount;
    if (this.runsByHistory) {
      const used = this.runBudgetUsed();
      return Math.min(byCount, Math.max(0, Math.floor((1 - used) / this.budgetPerLane(used))));
    }
    const events = this.historyLength();
    // Events a lane costs (its activity's three, and its share of workflow tasks, pages and row writes): ~6 at first.
    const perLane = this.lanesThisRun > 0 ? Math.max(3, events / this.lanesThisRun) : 6;
    return Math.min(byCount, Math.max(0, Math.floor((eventsPerRun - events) / perLane)));
  }

  private historyLength(): number {
    return this.env.historyLength?.() ?? 0;
  }

  /**
   * With runs planned by their history: the share of the run's budget its history has used, by events
   * (`eventsPerRun`) or bytes (`bytesPerRun`), whichever is further; 1 or more: the run is full.
   */
  private runBudgetUsed(): number {
    const { eventsPerRun, bytesPerRun } = this.opts;
    return Math.max(this.historyLength() / eventsPerRun, (this.env.historyBytes?.() ?? 0) / bytesPerRun);
  }

  /** The share of the run's budget a lane costs, as lanes cost so far (at least 3 events' worth; 6 before the first). */
  private budgetPerLane(used: number): number {
    const { eventsPerRun } = this.opts;
    return this.lanesThisRun > 0 ? Math.max(3 / eventsPerRun, used / this.lanesThisRun) : 6 / eventsPerRun;
  }

  /**
   * How long a lane should last: `laneTargetMs` (4 s), or, with `lanesByWindow`, `laneMsPerSlot` (100 ms) per
   * slot of the window when that is longer, up to `maxLaneMs` (20 s). Each lane costs the Temporal server and
   * the worker an activity (dispatch, start, completion, a workflow task) and its slot the gap between two
   * activities, whatever its items take; so a job runs about C / lane length lanes a second, and at concurrency
   * 200 with 4 s lanes that was 50 activities a second, 1 per 2 s item (one per lane). By the window, a job
   * starts at most about 10 lanes a second at any concurrency, and a window of 20 keeps 4 s lanes.
   */
  laneMs(): number {
    const { laneTargetMs, laneMsPerSlot, maxLaneMs } = this.opts;
    if (!this.lanesByWindow) return laneTargetMs;
    return Math.max(laneTargetMs, Math.min(maxLaneMs, this.windowSize() * laneMsPerSlot));
  }

  /**
   * Items per page asked of the database: `opts.pageSize` (100), or, with `pagesByWindow` and no page size in the
   * input (tests set one to page often), what a window of lanes takes at once (`windowSize() * laneSize()`), from
   * `opts.pageSize` to {@link MAX_PAGE_SIZE}. A page is one activity of the workflow's, fetched one at a time: at
   * concurrency 200 with lanes of 10 slow items, the first wave of lanes ending together asked for 2,000 items,
   * 20 pages of 100 one after another, while their slots stood empty.
   */
  pageSize(): number {
    if (!this.pagesByWindow || this.options?.pageSize !== undefined) return this.opts.pageSize;
    return Math.min(MAX_PAGE_SIZE, Math.max(this.opts.pageSize, this.windowSize() * this.laneSize()));
  }

  /**
   * Items per lane: as many as last about `laneMs()` (at most `maxLaneSize`); items slower than half of it go
   * one per activity (every real model call at low concurrency). The Temporal server and worker pay per
   * activity, not per item, and a lane runs its items one after another, so it never waits for a neighbour.
   * Near the end of a run or of the job, lanes shrink to what is left over the window (guided
   * self-scheduling), so the last lanes end together and no slot idles through a long tail (by the window,
   * what is left of a run counts its lanes left too). 1 until the first results tell how long items take.
   */
  laneSize(): number {
    if (this.itemMs === undefined) return 1;
    const { maxLaneSize, itemsPerRun } = this.opts;
    const target = Math.max(1, Math.min(maxLaneSize, Math.floor(this.laneMs() / Math.max(this.itemMs, 1))));
    let left = this.held.length + Math.max(0, Math.min(itemsPerRun - this.takenThisRun, this.job.totalItems - this.cursor));
    // By the window, the run's last lanes shrink too, so they end together and the drain before continue-as-new is short.
    if (this.lanesByWindow) {
      const lanes = this.lanesLeftInRun();
      left = Math.min(left, this.runsByHistory ? this.itemsOverLanes(lanes, target) : lanes * target);
    }
    return Math.max(1, Math.min(target, Math.ceil(left / this.windowSize()), this.itemsUnderSpendCap()));
  }

  /**
   * With runs planned by their history: the items `lanes` more lanes carry (at most `target` each) when every
   * lane takes its share of what the run has left over the window (guided self-scheduling): each lane leaves
   * (W - 1) / W of the rest, so the last W lanes carry one item each and the budget of L > W lanes is
   * W x (W / (W - 1))^(L - W) items. Self-scheduling lets a slot whose lane ended early take a smaller one, so
   * the run's lanes end within about an item of each other; sizing the last lanes by the lanes left alone
   * (`lanes x target`) gave lanes of 10 items 20 s before the end, and their jitter drained the window over ~9 s.
   * Plain multiplications (no `Math.exp`), so a replay computes the same figure bit for bit.
   */
  private itemsOverLanes(lanes: number, target: number): number {
    const w = this.windowSize();
    if (lanes <= w) return lanes;
    const most = lanes * target;
    let items = w;
    for (let i = w; i < lanes && items < most; i++) items *= w / (w - 1);
    return Math.min(most, Math.floor(items));
  }

  /**
   * Items per lane the spend cap leaves room for: what is left under the cap over the average item
   * cost, shared by the window, so lanes shrink as the cap nears and the job pauses within about a
   * window of items past it (a lane reports its costs only when it ends). 1 until an item's cost is known.
   */
  private itemsUnderSpendCap(): number {
    if (!this.spendCapOn || this.job.maxCostUsd === null) return Infinity;
    if (this.costThisRun.items === 0) return 1;
    const perItem = this.costThisRun.usd / this.costThisRun.items;
    if (perItem <= 0) return Infinity;
    return Math.floor((this.job.maxCostUsd - this.spentUsd) / perItem / this.windowSize());
  }

  /** Every item at or below this position has ended or is in flight; the next run pages from here. */
  resumeCursor(): number {
    return this.held.length === 0 ? this.cursor : Math.min(this.cursor, this.held[0]!.position - 1);
  }

  /** Keeps items a lane did not start; they go out again first, by position. */
  hold(refs: ItemRef[]): void {
    this.held.push(...refs);
    this.held.sort((a, b) => a.position - b.position);
  }

  /** Up to `want` held items, first by position. */
  takeHeld(want: number): ItemRef[] {
    return this.held.splice(0, want);
  }

  /** A new item was taken from the pages (the cursor moves at once: the next page is fetched after it). */
  taken(ref: ItemRef): void {
    this.cursor = ref.position;
    this.takenThisRun++;
  }

  /** A lane is about to start; true when it is the job's first (status becomes processing). */
  laneStarting(): boolean {
    this.inFlight++;
    this.lanesThisRun++;
    if (this.startedAt !== undefined) return false;
    this.startedAt = this.env.now();
    this.setStatus('processing');
    return true;
  }

  /** A lane ran `ran` items in `elapsedMs`: the moving average lanes are sized by. */
  laneTimed(ran: number, elapsedMs: number): void {
    if (ran > 0) this.itemMs = this.itemMs === undefined ? elapsedMs / ran : 0.7 * this.itemMs + (0.3 * elapsedMs) / ran;
  }

  /**
   * Counts an item's end. Returns true when this failure made the job stop (error policy
   * 'stop', or failures over the tolerance): the workflow writes the reason at once.
   */
  itemEnded(result: ProcessItemResult): boolean {
    if (result.outcome === 'completed') this.counters.successful++;
    if (result.costUsd !== undefined) {
      this.costThisRun.usd += result.costUsd;
      this.costThisRun.items++;
    }
    if (result.outcome !== 'failed') return false;
    this.counters.failed++;
    if (this.stopReason) return false;
    const { errorHandling, toleratedFailurePercent, totalItems } = this.job;
    if (errorHandling === 'stop') {
      this.stopReason = `error handling 'stop': item ${result.position} failed: ${result.errorMessage ?? 'unknown error'}`;
      return true;
    }
    if (toleratedFailurePercent !== null && this.counters.failed * 100 > toleratedFailurePercent * totalItems) {
      this.stopReason = `failures exceeded the tolerated ${toleratedFailurePercent}% (${this.counters.failed} of ${totalItems} items failed)`;
      return true;
    }
    return false;
  }

  /** Counts an item by where the database says it stands (settled lanes); true as `itemEnded`. */
  outcomeFound(ref: ItemRef, outcome: ItemOutcome | undefined): boolean {
    if (outcome?.status === 'completed') return this.itemEnded({ outcome: 'completed', position: ref.position });
    if (outcome?.status === 'failed')
      return this.itemEnded({ outcome: 'failed', position: ref.position, errorMessage: outcome.error_message ?? undefined });
    return false;
  }

  /** `pause` signal; false when it does not apply (ended, cancelling, stopping, already paused). */
  pause(): boolean {
    if (this.ending || this.cancelRequested || this.stopReason || this.paused) return false;
    this.paused = true;
    this.setStatus('paused');
    return true;
  }

  /** `resume` signal; false when it does not apply (also while the job is still over its spend cap). */
  resume(): boolean {
    if (this.ending || this.cancelRequested || this.stopReason || !this.paused || this.overSpendCap) return false;
    this.paused = false;
    this.capReason = undefined;
    this.setStatus(this.startedAt === undefined ? 'queued' : 'processing');
    return true;
  }

  /** `cancel` signal or Temporal cancellation; false when it does not apply. */
  cancel(): boolean {
    if (this.ending || this.cancelRequested) return false;
    this.cancelRequested = true;
    return true;
  }

  /** `setConcurrency` signal; false when it does not apply (ended, or not an integer in 1..MAX_CONCURRENCY). */
  setConcurrency(next: number): boolean {
    if (this.ending || !Number.isInteger(next) || next < 1 || next > MAX_CONCURRENCY) return false;
    this.concurrency = next;
    return true;
  }

  setStatus(next: JobStatus): void {
    if (this.status === next) return;
    const now = this.env.now();
    if (next === 'processing') this.activeSince ??= now;
    if (next === 'paused' && this.activeSince !== undefined) {
      this.activeMs += now - this.activeSince;
      this.activeSince = undefined;
    }
    this.status = next;
    this.env.onStatus?.(next);
  }

  /** Seconds left: active time per processed item times the items left; null before the first item ends or while paused. */
  etaSeconds(): number | null {
    const done = this.processed;
    if (done === 0 || this.status === 'paused') return null;
    const remaining = Math.max(0, this.job.totalItems - done);
    return Math.round(((this.elapsedActiveMs() / done) * remaining) / 1000);
  }

  /** What the `progress` query answers. */
  progress(): BatchProgress {
    return {
      jobId: this.jobId,
      status: this.status,
      totalItems: this.job.totalItems,
      successful: this.counters.successful,
      failed: this.counters.failed,
      processed: this.processed,
      inFlight: this.inFlight,
      concurrency: this.windowSize(),
      etaSeconds: this.etaSeconds(),
      cursor: this.resumeCursor(),
      run: this.run,
    };
  }

  /** The job row's columns as this state has them (absolute values). */
  jobPatch(): JobPatch {
    const p = this.progress();
    return {
      status: p.status,
      successful_items: p.successful,
      failed_items: p.failed,
      completed_items: p.processed,
      ...(this.concurrency === undefined ? {} : { concurrent_processing: this.concurrency }),
      estimated_time_remaining: p.etaSeconds,
      ...(this.startedAt === undefined ? {} : { started_at: new Date(this.startedAt).toISOString() }),
      // The stop reason, once there is one: every lane's next claim sees it and starts nothing more.
      ...(this.stopReason === undefined ? {} : { error_message: this.stopReason }),
      // Why the spend cap paused the job, and cleared once it resumes (only the cap writes this while the job runs).
      ...(this.spendCapOn && this.stopReason === undefined ? { error_message: this.capReason ?? null } : {}),
    };
  }

  /** The Web UI's current details of the workflow. */
  details(): string {
    const { successful, failed } = this.counters;
    return (
      `**${this.status}**: ${this.processed}/${this.job.totalItems} processed (${successful} ok, ${failed} failed), ` +
      `${this.inFlight} in flight, concurrency ${this.concurrency}, run ${this.run}` +
      (this.provider ? `, provider batches out: ${this.provider.open} (${this.provider.pendingRequests} requests pending)` : '')
    );
  }

  /** How the job ends, once the window is empty and the run is not continuing. */
  finalStatus(): { status: FinalStatus; errorMessage?: string } {
    if (this.cancelRequested) return { status: 'cancelled' };
    if (this.stopReason) return { status: 'failed', errorMessage: this.stopReason };
    if (this.processed > 0 && this.counters.failed === this.processed) {
      return { status: 'failed', errorMessage: `every item failed (${this.counters.failed} of ${this.job.totalItems})` };
    }
    return { status: 'completed' };
  }

  /** The next run's input (continue-as-new): held items are at or below the cursor, so the next run pages them again. */
  nextRunInput(options: BatchRunOptions | undefined): BatchWorkflowInput {
    const activeMs = this.activeMs + (this.activeSince === undefined ? 0 : this.env.now() - this.activeSince);
    return {
      jobId: this.jobId,
      cursor: this.resumeCursor(),
      counters: this.counters,
      carried: {
        paused: this.paused,
        concurrency: this.concurrency,
        activeMs,
        run: this.run + 1,
        startedAt: this.startedAt,
        itemMs: this.itemMs,
        ...(this.providerBatchesDone ? { providerBatchesDone: true } : {}),
      },
      options,
    };
  }

  private elapsedActiveMs(): number {
    return this.activeMs + (this.activeSince === undefined ? 0 : this.env.now() - this.activeSince);
  }
}
