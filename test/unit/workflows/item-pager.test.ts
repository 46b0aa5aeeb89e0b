import { describe, expect, it } from 'vitest';
import type { ItemRef } from '../../../workflows/contract';
import { ItemPager } from '../../../workflows/item-pager';

/** A job of `n` queued items; records each page asked for. */
function pages(n: number) {
  const asked: Array<{ after: number; limit: number }> = [];
  const fetch = async (after: number, limit: number): Promise<ItemRef[]> => {
    asked.push({ after, limit });
    return Array.from({ length: n }, (_, i) => ({ id: `i${i + 1}`, position: i + 1 }))
      .filter((r) => r.position > after)
      .slice(0, limit);
  };
  return { asked, fetch };
}

describe('ItemPager', () => {
  it('gives every item once, in order, asking for the next page at half of the current one', async () => {
    const { asked, fetch } = pages(10);
    const pager = new ItemPager(fetch, 4);
    const got: number[] = [];
    let cursor = 0;
    for (let ref = await pager.next(cursor); ref; ref = await pager.next(cursor)) {
      got.push(ref.position);
      cursor = ref.position;
    }
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // First page from the cursor; each next one after the last item of the page before, asked ahead of time.
    expect(asked).toEqual([
      { after: 0, limit: 4 },
      { after: 4, limit: 4 },
      { after: 8, limit: 4 },
    ]);
    expect(await pager.next(cursor)).toBeUndefined();
  });

  it('reads a page size function at each page asked for, and ends at the first page shorter than what it asked for', async () => {
    const { asked, fetch } = pages(12);
    const sizes = [2, 6, 6];
    const pager = new ItemPager(fetch, () => sizes.shift() ?? 100);
    const got: number[] = [];
    let cursor = 0;
    for (let ref = await pager.next(cursor); ref; ref = await pager.next(cursor)) {
      got.push(ref.position);
      cursor = ref.position;
    }
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    // The third page holds 4 of the 6 asked for: the job has no more, so no fourth page is asked for.
    expect(asked).toEqual([
      { after: 0, limit: 2 },
      { after: 2, limit: 6 },
      { after: 8, limit: 6 },
    ]);
    expect(await pager.next(cursor)).toBeUndefined();
    expect(asked).toHaveLength(3);
  });

  it('starts from the cursor it is given (a continued run)', async () => {
    const { fetch } = pages(5);
    const pager = new ItemPager(fetch, 100);
    expect(await pager.next(3)).toEqual({ id: 'i4', position: 4 });
  });

  it('a page asked for ahead that fails is never an unhandled rejection; drain waits for it', async () => {
    let calls = 0;
    const pager = new ItemPager(async () => {
      calls++;
      if (calls === 2) throw new Error('cancelled');
      return [
        { id: 'a', position: 1 },
        { id: 'b', position: 2 },
      ];
    }, 2);
    expect(await pager.next(0)).toEqual({ id: 'a', position: 1 });
    // Half of the page taken: the next page is asked for now, and fails.
    expect(await pager.next(1)).toEqual({ id: 'b', position: 2 });
    await pager.drain();
    expect(calls).toBe(2);
  });
});
