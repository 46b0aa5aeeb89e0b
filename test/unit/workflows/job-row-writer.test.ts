import { describe, expect, it } from 'vitest';
import type { JobPatch } from '../../../src/domain/job-writes';
import { JobRowWriter } from '../../../workflows/job-row-writer';

/** A writer whose writes the test lets land one at a time. */
function makeWriter(intervalMs = 1000) {
  let now = 0;
  let counter = 0;
  const written: JobPatch[] = [];
  const pending: Array<() => void> = [];
  const writer = new JobRowWriter(
    (patch) =>
      new Promise<void>((resolve) =>
        pending.push(() => {
          written.push(patch);
          resolve();
        }),
      ),
    () => ({ status: 'processing', successful_items: counter }),
    () => now,
    intervalMs,
  );
  const land = async () => {
    pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { writer, written, pending, land, count: () => counter++, tick: (ms: number) => (now += ms) };
}

describe('JobRowWriter', () => {
  it('writes one at a time; syncs asked for meanwhile become one more write with the latest state', async () => {
    const w = makeWriter();
    const first = w.writer.sync();
    expect(w.writer.idle).toBe(false);
    w.count();
    void w.writer.sync();
    w.count();
    void w.writer.sync();
    expect(w.pending).toHaveLength(1);
    await w.land();
    expect(w.pending).toHaveLength(1);
    await w.land();
    await first;
    expect(w.written).toEqual([
      { status: 'processing', successful_items: 0 },
      { status: 'processing', successful_items: 2 },
    ]);
    expect(w.writer.idle).toBe(true);
    expect(w.writer.rowStatus).toBe('processing');
  });

  it('knows the row status only once a write landed', async () => {
    const w = makeWriter();
    const done = w.writer.sync();
    expect(w.writer.rowStatus).toBeUndefined();
    await w.land();
    await done;
    expect(w.writer.rowStatus).toBe('processing');
  });

  it('syncSoon writes at most once per interval, and always when the window is empty', async () => {
    const w = makeWriter(1000);
    w.tick(5000);
    w.writer.syncSoon(false);
    expect(w.pending).toHaveLength(1);
    await w.land();
    w.tick(10);
    w.writer.syncSoon(false);
    expect(w.pending).toHaveLength(0);
    w.writer.syncSoon(true);
    expect(w.pending).toHaveLength(1);
    await w.land();
    w.tick(1000);
    w.writer.syncSoon(false);
    expect(w.pending).toHaveLength(1);
    await w.land();
    expect(w.written).toHaveLength(3);
  });
});
