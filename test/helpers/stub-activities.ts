import { Context } from '@temporalio/activity';
import type { ItemStatus, JobStatus } from '../../src/domain/enums';
import type { CheckpointInput } from '../../src/domain/job-writes';
import type { ControlActivities, ItemActivities, JobSettings, ProcessLaneResult } from '../../workflows/contract';

/** How one item of the stub job behaves: how long it takes (nominal ms, what its lane reports) and whether it fails for good. */
export interface StubItemBehaviour {
  /** Time the lane reports for the item (what lane sizing sees). */
  ms: number;
  /** Real time the item takes (default: min(ms, 50)). */
  realMs?: number;
  /** The item fails with this message (its own fault: no retry). */
  fail?: string;
}

interface StubItem {
  id: string;
  position: number;
  status: ItemStatus;
  error_message: string | null;
  /** Times its work began (a claim that was not held). */
  runs: number;
  startedAt?: number;
}

/**
 * The batch workflow's activities over an in-memory job: no Postgres, no gateway. It keeps the
 * contract the real ones keep (`workflows/contract.ts`, `claim_batch_item`): a lane claims each
 * item and holds the rest while the job row is not queued/processing, has a stop reason, or
 * (under 'stop') any item failed; ended items are never run again; finalizeJob cancels what is
 * open. For the fast tier's workflow tests; the integration tier runs the real ones.
 */
export class StubJob {
  readonly settings: JobSettings;
  readonly items: StubItem[];
  row: {
    status: JobStatus;
    error_message: string | null;
    successful_items: number;
    failed_items: number;
    concurrent_processing: number;
    completed_at?: number;
  };
  readonly checkpoints: CheckpointInput[] = [];
  /** Item ids of each lane, in the order lanes started (retries included). */
  readonly lanes: string[][] = [];
  loads = 0;
  lanesRunning = 0;
  maxLanesRunning = 0;

  constructor(
    readonly jobId: string,
    count: number,
    private readonly behaviour: (position: number) => StubItemBehaviour,
    settings: Partial<JobSettings> = {},
  ) {
    this.settings = {
      name: 'stub',
      status: 'queued',
      tier: 'template',
      totalItems: count,
      concurrency: 2,
      errorHandling: 'continue',
      toleratedFailurePercent: null,
      maxCostUsd: null,
      spentUsd: 0,
      ...settings,
    };
    this.items = Array.from({ length: count }, (_, i) => ({
      id: `${jobId.slice(0, 8)}-item-${i + 1}`,
      position: i + 1,
      status: 'queued',
      error_message: null,
      runs: 0,
    }));
    this.row = {
      status: this.settings.status,
      error_message: null,
      successful_items: 0,
      failed_items: 0,
      concurrent_processing: this.settings.concurrency,
    };
  }

  count(status: ItemStatus): number {
    return this.items.filter((i) => i.status === status).length;
  }

  private item(id: string): StubItem {
    const item = this.items.find((i) => i.id === id);
    if (!item) throw new Error(`no stub item ${id}`);
    return item;
  }

  /** What `claim_batch_item` decides: may an item start now? */
  private mayStart(): boolean {
    if (this.row.status !== 'queued' && this.row.status !== 'processing') return false;
    if (this.row.error_message) return false;
    return !(this.settings.errorHandling === 'stop' && this.count('failed') > 0);
  }

  activities(): ControlActivities & ItemActivities {
    return {
      loadJob: async () => {
        this.loads++;
        return { ...this.settings, status: this.row.status, concurrency: this.row.concurrent_processing };
      },
      fetchItemPage: async ({ afterPosition, limit }) =>
        this.items
          .filter((i) => i.status === 'queued' && i.position > afterPosition)
          .slice(0, limit)
          .map(({ id, position }) => ({ id, position })),
      syncJob: async ({ patch }) => {
        Object.assign(this.row, patch);
      },
      writeCheckpoint: async (cp) => {
        this.checkpoints.push(cp);
      },
      settleItems: async ({ itemIds, failMessage }) =>
        itemIds.map((id) => {
          const item = this.item(id);
          if (failMessage !== undefined && item.status === 'processing')
            Object.assign(item, { status: 'failed', error_message: failMessage });
          return { id, position: item.position, status: item.status, error_message: item.error_message };
        }),
      finalizeJob: async (input) => {
        for (const item of this.items) if (item.status === 'queued' || item.status === 'processing') item.status = 'cancelled';
        this.row = {
          ...this.row,
          status: input.status,
          successful_items: input.successful,
          failed_items: input.failed,
          error_message: input.errorMessage ?? null,
          completed_at: Date.now(),
        };
        this.checkpoints.push({ ...input.checkpoint, jobId: input.jobId, reason: 'finish' });
        return { cancelled: this.count('cancelled') };
      },
      processLane: async (input) => {
        const ctx = Context.current();
        this.lanes.push(input.itemIds);
        this.lanesRunning++;
        this.maxLanesRunning = Math.max(this.maxLanesRunning, this.lanesRunning);
        const results: ProcessLaneResult['results'] = [];
        let ran = 0;
        let elapsedMs = 0;
        try {
          for (const [i, id] of input.itemIds.entries()) {
            const item = this.item(id);
            const open = item.status === 'queued' || item.status === 'processing';
            if (open && !this.mayStart()) return { results, held: input.itemIds.slice(i), ran, elapsedMs };
            if (open) {
              const b = this.behaviour(item.position);
              Object.assign(item, { status: 'processing', startedAt: Date.now() });
              item.runs++;
              const heartbeat = setInterval(() => ctx.heartbeat(), 20);
              try {
                await ctx.sleep(b.realMs ?? Math.min(b.ms, 50));
              } finally {
                clearInterval(heartbeat);
              }
              Object.assign(item, b.fail === undefined ? { status: 'completed' } : { status: 'failed', error_message: b.fail });
              ran++;
              elapsedMs += b.ms;
            }
            const outcome = item.status as 'completed' | 'failed' | 'cancelled';
            results.push({ id, position: item.position, outcome, ...(item.error_message ? { errorMessage: item.error_message } : {}) });
            ctx.heartbeat();
            if (input.stopAfterFailure && open && outcome === 'failed')
              return { results, held: input.itemIds.slice(i + 1), ran, elapsedMs };
          }
          return { results, held: [], ran, elapsedMs };
        } finally {
          this.lanesRunning--;
        }
      },
    };
  }
}
