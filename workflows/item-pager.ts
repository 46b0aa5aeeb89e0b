import type { ItemRef } from './contract';

/**
 * Pages of queued items by position, for the dispatch loop. The next page is asked for once half
 * of the current one is taken, so lanes never wait for a page. Knows nothing of Temporal: `fetch`
 * is the `fetchItemPage` activity in the workflow, a function in a unit test.
 */
export class ItemPager {
  private page: ItemRef[] = [];
  private index = 0;
  private exhausted = false;
  private nextPage: Promise<ItemRef[]> | undefined;

  constructor(
    private readonly fetch: (afterPosition: number, limit: number) => Promise<ItemRef[]>,
    private readonly pageSize: number,
  ) {}

  /** The next queued item after `cursor` (the position of the last item taken), or undefined when there is none. */
  async next(cursor: number): Promise<ItemRef | undefined> {
    if (this.index >= this.page.length && !this.exhausted) {
      this.page = await (this.nextPage ?? this.request(cursor));
      this.nextPage = undefined;
      this.index = 0;
      this.exhausted = this.page.length < this.pageSize;
    }
    if (!this.exhausted && this.nextPage === undefined && this.index >= this.page.length / 2) {
      this.nextPage = this.request(this.page[this.page.length - 1]!.position);
    }
    return this.page[this.index++];
  }

  /** Waits for a page asked for ahead of time, so no activity outlives the run (its result is not needed). */
  async drain(): Promise<void> {
    await this.nextPage?.then(
      () => undefined,
      () => undefined,
    );
  }

  private request(afterPosition: number): Promise<ItemRef[]> {
    const fetched = this.fetch(afterPosition, this.pageSize);
    // Awaited by next(), or dropped when the run ends first (a cancel rejects it): never an unhandled rejection.
    fetched.catch(() => undefined);
    return fetched;
  }
}
