import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createOfflineGenerator, TransientGenerationError, type ConversationGenerator, type GenerationRequest } from '../../src/generation';
import { byStatus, conversationCount, itemRows, jobRow, runToEnd, sliceItemIds, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

// Slices: fast items travel several to one activity (`processSlice`), slow ones one per activity.
// Each test runs a real worker on its own task queue and checks rows, counters and the history.

/** The offline generator with a per-item latency and a hook that may throw before generating. */
function scriptedGenerator(opts: { latencyMs: number; fail?: (req: GenerationRequest) => Error | undefined }) {
  const calls = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  const inner = createOfflineGenerator({ latencyMs: opts.latencyMs, failureRate: 0 });
  const generator: ConversationGenerator = {
    name: 'offline',
    async generate(req) {
      calls.set(req.itemId, (calls.get(req.itemId) ?? 0) + 1);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const err = opts.fail?.(req);
        if (err) throw err;
        return await inner.generate(req);
      } finally {
        inFlight--;
      }
    },
  };
  return { generator, calls, maxInFlight: () => maxInFlight };
}

const sliceSizes = async (h: Harness, workflowId: string) => (await sliceItemIds(h, workflowId)).map((ids) => ids.length);
/** How many items shared an activity with `itemId` (the first time it was scheduled). */
const sliceOf = async (h: Harness, workflowId: string, itemId: string) => (await sliceItemIds(h, workflowId)).find((ids) => ids.includes(itemId))!.length;

/** Slices of a quarter of the window whatever the machine's speed (the default sizes them by time). */
const SLICED = { sliceTargetMs: 60_000 };

describe('slices: several fast items per activity, slow items one per activity', () => {
  let h: Harness;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  let worker: TestWorker | undefined;

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    seed = await seedIds(h.db);
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(async () => {
    await h.client.connection.close();
  });

  const start = async (gen: ReturnType<typeof scriptedGenerator>) => {
    const config = testConfig();
    h = { ...h, config };
    worker = await startTestWorker(config, { db: h.db, generator: gen.generator });
  };
  const body = (topics: number, concurrentProcessing: number) => ({
    personaIds: seed.personas.slice(0, 2).map((p) => p.id),
    emotionalArcIds: seed.arcs.slice(0, 2).map((a) => a.id),
    topicIds: seed.topics.slice(0, topics).map((t) => t.id),
    concurrentProcessing,
  });

  it('fast items go several to an activity, within the window, each item once', async () => {
    const gen = scriptedGenerator({ latencyMs: 20 });
    await start(gen);
    const { submitted, result, job, items } = await runToEnd(h, body(20, 20));
    expect(result).toMatchObject({ status: 'completed', successful: 80, failed: 0 });
    expect(job).toMatchObject({ status: 'completed', successful_items: 80, completed_items: 80 });
    expect(byStatus(items)).toEqual({ completed: 80 });
    expect(await conversationCount(h.db, submitted.jobId)).toBe(80);
    expect([...gen.calls.values()].every((n) => n === 1)).toBe(true);
    expect(gen.maxInFlight()).toBeLessThanOrEqual(20);

    const sizes = await sliceSizes(h, submitted.workflowId);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(80);
    // The first wave goes one per activity (no timing known yet); then slices of up to a quarter of the window.
    expect(sizes.slice(0, 20)).toEqual(Array(20).fill(1));
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
    expect(sizes.length).toBeLessThan(80);
  });

  it('slices that straddle pages and runs take every item once', async () => {
    const gen = scriptedGenerator({ latencyMs: 5 });
    await start(gen);
    // Pages of 7 and runs of 33 items never line up with slices of 5.
    const { submitted, result, job, items } = await runToEnd(h, body(20, 20), { ...SLICED, pageSize: 7, itemsPerRun: 33 });
    expect(result).toMatchObject({ status: 'completed', successful: 80, failed: 0 });
    expect(job).toMatchObject({ successful_items: 80, completed_items: 80 });
    expect(byStatus(items)).toEqual({ completed: 80 });
    const all = (await sliceItemIds(h, submitted.workflowId)).flat();
    expect(all).toHaveLength(80);
    expect(new Set(all).size).toBe(80);
    expect([...gen.calls.values()].every((n) => n === 1)).toBe(true);
  });

  it('slow items go one per activity', async () => {
    const gen = scriptedGenerator({ latencyMs: 700 });
    await start(gen);
    const { submitted, result } = await runToEnd(h, body(3, 8));
    expect(result).toMatchObject({ status: 'completed', successful: 12 });
    expect(await sliceSizes(h, submitted.workflowId)).toEqual(Array(12).fill(1));
  });

  it('a transient failure retries the slice: ended items are not redone, every item counts once', async () => {
    let flakyItem: string | undefined;
    const gen = scriptedGenerator({
      latencyMs: 10,
      // The first item generated after the first wave fails once: it sits in a slice of several.
      fail: (req) => {
        if (flakyItem === undefined && gen.calls.size > 25) flakyItem = req.itemId;
        return req.itemId === flakyItem && req.attempt === 1 ? new TransientGenerationError('simulated 503 (test)') : undefined;
      },
    });
    await start(gen);
    const { submitted, result, job, items } = await runToEnd(h, body(10, 20), SLICED);
    expect(result).toMatchObject({ status: 'completed', successful: 40, failed: 0 });
    expect(job).toMatchObject({ successful_items: 40, failed_items: 0, completed_items: 40 });
    expect(byStatus(items)).toEqual({ completed: 40 });
    expect(await conversationCount(h.db, submitted.jobId)).toBe(40);
    expect(gen.calls.get(flakyItem!)).toBe(2);
    expect(await sliceOf(h, submitted.workflowId, flakyItem!)).toBeGreaterThan(1);
    const redone = [...gen.calls.entries()].filter(([id, n]) => id !== flakyItem && n !== 1);
    expect(redone).toEqual([]);
  });

  it('retries running out fail only the items that had not ended; the counters match the rows', async () => {
    let doomed: string | undefined;
    const gen = scriptedGenerator({
      latencyMs: 10,
      fail: (req) => {
        if (doomed === undefined && gen.calls.size > 25) doomed = req.itemId;
        return req.itemId === doomed ? new TransientGenerationError('simulated outage (test)') : undefined;
      },
    });
    await start(gen);
    const { submitted, result, job, items } = await runToEnd(h, body(10, 20), { ...SLICED, maxItemAttempts: 2 });
    expect(result).toMatchObject({ status: 'completed', successful: 39, failed: 1 });
    expect(job).toMatchObject({ successful_items: 39, failed_items: 1, completed_items: 40 });
    expect(byStatus(items)).toEqual({ completed: 39, failed: 1 });
    const failed = items.find((i) => i.status === 'failed')!;
    expect(failed.id).toBe(doomed);
    expect(failed.error_message).toBe('gave up after 2 attempts: simulated outage (test)');
    expect(gen.calls.get(doomed!)).toBe(2);
    expect(await sliceOf(h, submitted.workflowId, doomed!)).toBeGreaterThan(1);
  });

  it('a cancel while slices run counts the items they finished, once', async () => {
    const gen = scriptedGenerator({ latencyMs: 150 });
    await start(gen);
    const s = await submit(h, body(20, 20), SLICED);
    const handle = h.client.workflow.getHandle(s.workflowId);
    await waitFor(async () => byStatus(await itemRows(h.db, s.jobId)).completed! >= 30, 30_000, '30 items completed');
    await handle.signal('cancel');
    const result = await handle.result();
    expect(result.status).toBe('cancelled');
    const job = await jobRow(h.db, s.jobId);
    const counts = byStatus(await itemRows(h.db, s.jobId));
    expect(job).toMatchObject({ status: 'cancelled', successful_items: counts.completed, cancelled_items: counts.cancelled ?? 0 });
    expect(result.successful).toBe(counts.completed);
    expect((counts.completed ?? 0) + (counts.cancelled ?? 0)).toBe(80);
    expect(await conversationCount(h.db, s.jobId)).toBe(counts.completed);
    expect(Math.max(...(await sliceSizes(h, s.workflowId)))).toBeGreaterThan(1);
  });
});
