import type { ItemRef } from './contract';

/** A page asked for, and the most items it was asked for (fewer back: the job has no more). */
interface PageRequest {
  limit: number;
  rows: Promise<ItemRef[]>;
}

/**
 * Pages of queued items by position, for the dispatch loop. The next page is asked for once half
 * of the current one is taken, so lanes never wait for a page. Knows nothing of Temporal: `fetch`
 * is the `fetchItemPage` activity in the workflow, a function in a unit test. `pageSize` is read
 * each time a page is asked for (a number, or a function: pages sized by the window).
 */
export class ItemPager {
  private page: ItemRef[] = [];
  private index = 0;
  private exhausted = false;
  private nextPage: PageRequest | undefined;

  constructor(
    private readonly fetch: (afterPosition: number, limit: number) => Promise<ItemRef[]>,
    private readonly pageSize: number | (() => number),
  ) {}

  /** The next queued item after `cursor` (the position of the last item taken), or undefined when there is none. */
  async next(cursor: number): Promise<ItemRef | undefined> {
    if (this.index >= this.page.length && !this.exhausted) {
      const request = this.nextPage ?? this.request(cursor);
      this.page = await request.rows;
      this.nextPage = undefined;
      this.index = 0;
      this.exhausted = this.page.length < request.limit;
    }
    if (!this.exhausted && this.nextPage === undefined && this.index >= this.page.length / 2) {
      this.nextPage = this.request(this.page[this.page.length - 1]!.position);
    }
    return this.page[this.index++];
  }

  /** Waits for a page asked for ahead of time, so no activity outlives the run (its result is not needed). */
  async drain(): Promise<void> {
    await this.nextPage?.rows.then(
      () => undefined,
      () => undefined,
    );
  }

  private request(afterPosition: number): PageRequest {
    const limit = typeof this.pageSize === 'number' ? this.pageSize : this.pageSize();
    const rows = this.fetch(afterPosition, limit);
    // Awaited by next(), or dropped when the run ends first (a cancel rejects it): never an unhandled rejection.
    rows.catch(() => undefined);
    return { limit, rows };
  }
}
