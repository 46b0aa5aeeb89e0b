import { CancellationScope, isCancellation, patched, setCurrentDetails } from '@temporalio/workflow';
import { settleItems } from './activity-proxies';
import type { BatchState } from './batch-state';
import type { ItemActivities, ItemOutcome, ItemRef } from './contract';
import type { ItemPager } from './item-pager';
import type { JobRowWriter } from './job-row-writer';

/** Where `refs` stand in the database, by id (`failMessage`: fail the one a lane was running first). */
async function settle(refs: ItemRef[], failMessage?: string): Promise<Map<string, ItemOutcome>> {
  const outcomes = await CancellationScope.nonCancellable(() => settleItems({ itemIds: refs.map((r) => r.id), failMessage }));
  return new Map(outcomes.map((o) => [o.id, o]));
}

/** Up to `want` items for a lane: held ones first, then new ones from the pages. */
export async function takeItems(state: BatchState, pager: ItemPager, want: number): Promise<ItemRef[]> {
  const refs = state.takeHeld(want);
  while (refs.length < want) {
    const ref = await pager.next(state.cursor);
    if (!ref) break;
    refs.push(ref);
    state.taken(ref);
  }
  return refs;
}

/**
 * The lanes of one run: each `run` is one `processLane` activity, whose outcomes it counts into the
 * state. A lane whose retries ran out is settled from the database at once; cancelled lanes are
 * settled together once the window is empty (`settleCancelled`), one activity for all of them.
 */
export class Lanes {
  private readonly cancelled: ItemRef[] = [];

  constructor(
    private readonly state: BatchState,
    private readonly writer: JobRowWriter,
    private readonly processLane: ItemActivities['processLane'],
    /** Called after a lane's results are counted (the workflow checks the spend cap). */
    private readonly afterLane: () => void = () => undefined,
  ) {}

  /** Runs one lane of `refs` (the caller counted it in flight). */
  async run(refs: ItemRef[]): Promise<void> {
    const { state } = this;
    try {
      const itemIds = refs.map((r) => r.id);
      const { results, held, ran, elapsedMs } = await this.processLane({
        jobId: state.jobId,
        itemIds,
        stopAfterFailure: state.stopAfterFailure,
      });
      state.laneTimed(ran, elapsedMs);
      for (const result of results) if (state.itemEnded(result)) this.sync();
      const byId = new Map(refs.map((r) => [r.id, r]));
      state.hold(held.map((id) => byId.get(id)!));
      this.afterLane();
    } catch (err) {
      // A cancelled one-item lane ended nothing; a longer one may have finished some items: counted after the window empties.
      if (isCancellation(err)) {
        if (refs.length > 1) this.cancelled.push(...refs);
        return;
      }
      await this.gaveUp(refs, `gave up after ${state.opts.maxItemAttempts} attempts: ${rootMessage(err)}`);
    } finally {
      state.inFlight--;
      setCurrentDetails(state.details());
      // The last lane of a cancelled job leaves the row to finalizeJob, which writes every counter with the status: a
      // sync of the emptied window first only delayed the end by an activity. Runs recorded before it sync.
      if (!(state.cancelRequested && state.inFlight === 0 && patched('cancel-ends-without-sync')))
        this.writer.syncSoon(state.inFlight === 0);
    }
  }

  /** Counts what the cancelled lanes finished; call once the window is empty. */
  async settleCancelled(): Promise<void> {
    if (this.cancelled.length === 0) return;
    const outcomes = await settle(this.cancelled);
    for (const ref of this.cancelled) if (this.state.outcomeFound(ref, outcomes.get(ref.id))) this.sync();
  }

  /** Retries ran out: fail the item the lane was running, count what it had finished, send out again what it never started. */
  private async gaveUp(refs: ItemRef[], failMessage: string): Promise<void> {
    const outcomes = await settle(refs, failMessage);
    for (const ref of refs) {
      const outcome = outcomes.get(ref.id);
      if (outcome?.status === 'queued') this.state.hold([ref]);
      // An item whose row vanished still counts once, as failed.
      else if (this.state.outcomeFound(ref, outcome ?? { ...ref, status: 'failed', error_message: failMessage })) this.sync();
    }
  }

  private sync(): void {
    void this.writer.sync();
  }
}

function rootMessage(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? e.message : String(e);
}
