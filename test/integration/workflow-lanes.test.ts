import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createOfflineGenerator,
  PermanentGenerationError,
  TransientGenerationError,
  type ConversationGenerator,
  type GenerationRequest,
} from '../../src/generation';
import { byStatus, conversationCount, itemRows, jobRow, runToEnd, laneItemIds, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

// Lanes: fast items travel several to one activity (`processLane`), which runs them one after another;
// slow ones go one per activity. Each test runs a real worker on its own task queue and checks rows,
// counters, what the generator was asked and the history.

/** The offline generator with a per-item latency and a hook that may throw before generating. */
function scriptedGenerator(opts: { latencyMs: number; fail?: (req: GenerationRequest) => Error | undefined }) {
  const calls = new Map<string, number>();
  // When each request came in (ms), in order.
  const startedAt: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const inner = createOfflineGenerator({ latencyMs: opts.latencyMs, failureRate: 0 });
  const generator: ConversationGenerator = {
    name: 'offline',
    async generate(req) {
      calls.set(req.itemId, (calls.get(req.itemId) ?? 0) + 1);
      startedAt.push(Date.now());
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
  return { generator, calls, startedAt, maxInFlight: () => maxInFlight };
}

const laneSizes = async (h: Harness, workflowId: string) => (await laneItemIds(h, workflowId)).map((ids) => ids.length);
/** How many items shared an activity with `itemId` (the first time it was scheduled). */
const laneOf = async (h: Harness, workflowId: string, itemId: string) =>
  (await laneItemIds(h, workflowId)).find((ids) => ids.includes(itemId))!.length;

/** Lanes as long as the end of the job allows, whatever the machine's speed (the default sizes them by time). */
const LANED = { laneTargetMs: 60_000 };

describe('lanes: fast items several to an activity one after another, slow items one per activity', () => {
  let h: Harness;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  let worker: TestWorker | undefined;
  let second: TestWorker | undefined;

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    seed = await seedIds(h.db);
  });
  afterEach(async () => {
    await Promise.all([worker?.stop(), second?.stop()]);
    worker = second = undefined;
  });
  afterAll(async () => {
    await h.client.connection.close();
  });

  const start = async (gen: ReturnType<typeof scriptedGenerator>) => {
    const config = testConfig();
    h = { ...h, config };
    worker = await startTestWorker(config, { db: h.db, generator: gen.generator });
  };
  const body = (topics: number, concurrentProcessing: number, extra: Record<string, unknown> = {}) => ({
    personaIds: seed.personas.slice(0, 2).map((p) => p.id),
    emotionalArcIds: seed.arcs.slice(0, 2).map((a) => a.id),
    topicIds: seed.topics.slice(0, topics).map((t) => t.id),
    concurrentProcessing,
    ...extra,
  });

  it('fast items go several to a lane, each lane one slot of the window, each item once', async () => {
    const gen = scriptedGenerator({ latencyMs: 20 });
    await start(gen);
    const { submitted, result, job, items } = await runToEnd(h, body(20, 5));
    expect(result).toMatchObject({ status: 'completed', successful: 80, failed: 0 });
    expect(job).toMatchObject({ status: 'completed', successful_items: 80, completed_items: 80 });
    expect(byStatus(items)).toEqual({ completed: 80 });
    expect(await conversationCount(h.db, submitted.jobId)).toBe(80);
    expect([...gen.calls.values()].every((n) => n === 1)).toBe(true);
    // A lane runs one item at a time: never more requests at once than the window.
    expect(gen.maxInFlight()).toBeLessThanOrEqual(5);

    const sizes = await laneSizes(h, submitted.workflowId);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(80);
    // The first wave goes one per activity (no timing known yet); then lanes of several, shrinking to one at the end.
    expect(sizes.slice(0, 5)).toEqual(Array(5).fill(1));
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(sizes.at(-1)).toBe(1);
    expect(sizes.length).toBeLessThan(80);
  });

  it('lanes that straddle pages and runs take every item once', async () => {
    const gen = scriptedGenerator({ latencyMs: 5 });
    await start(gen);
    // Pages of 7 and runs of 33 items never line up with lanes.
    const { submitted, result, job, items } = await runToEnd(h, body(20, 20), { ...LANED, pageSize: 7, itemsPerRun: 33 });
    expect(result).toMatchObject({ status: 'completed', successful: 80, failed: 0 });
    expect(job).toMatchObject({ successful_items: 80, completed_items: 80 });
    expect(byStatus(items)).toEqual({ completed: 80 });
    const all = (await laneItemIds(h, submitted.workflowId)).flat();
    expect(all).toHaveLength(80);
    expect(new Set(all).size).toBe(80);
    expect([...gen.calls.values()].every((n) => n === 1)).toBe(true);
  });

  it('slow items go one per activity', async () => {
    const gen = scriptedGenerator({ latencyMs: 700 });
    await start(gen);
    // Items over half the lane target (1,000 ms here) travel alone.
    const { submitted, result } = await runToEnd(h, body(3, 8), { laneTargetMs: 1000 });
    expect(result).toMatchObject({ status: 'completed', successful: 12 });
    expect(await laneSizes(h, submitted.workflowId)).toEqual(Array(12).fill(1));
  });

  it('at a wide window slow items share lanes sized by the window, one item at a time per slot, each once', async () => {
    const gen = scriptedGenerator({ latencyMs: 300 });
    await start(gen);
    // laneTargetMs 200 alone would send these 300 ms items one per activity; 4 slots x 400 ms make 1.6 s lanes.
    const { submitted, result, job, items } = await runToEnd(h, body(5, 4), { laneTargetMs: 200, laneMsPerSlot: 400 });
    expect(result).toMatchObject({ status: 'completed', successful: 20, failed: 0 });
    expect(job).toMatchObject({ status: 'completed', successful_items: 20, completed_items: 20 });
    expect(byStatus(items)).toEqual({ completed: 20 });
    expect([...gen.calls.values()].every((n) => n === 1)).toBe(true);
    expect(gen.maxInFlight()).toBeLessThanOrEqual(4);
    const sizes = await laneSizes(h, submitted.workflowId);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(20);
    expect(sizes.slice(0, 4)).toEqual([1, 1, 1, 1]);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(sizes.length).toBeLessThan(20);
  });

  it('two workers on one queue share a batch: lanes are never started eagerly in the worker that scheduled them', async () => {
    const a = scriptedGenerator({ latencyMs: 300 });
    const b = scriptedGenerator({ latencyMs: 300 });
    await start(a);
    second = await startTestWorker(h.config, { db: h.db, generator: b.generator });
    const { result, items } = await runToEnd(h, body(20, 20));
    expect(result).toMatchObject({ status: 'completed', successful: 80, failed: 0 });
    expect(byStatus(items)).toEqual({ completed: 80 });
    // Each item once, whichever worker ran it.
    expect([...a.calls.keys()].filter((id) => b.calls.has(id))).toEqual([]);
    expect(a.calls.size + b.calls.size).toBe(80);
    // Eager starts put lanes in the worker that completed the workflow task (the sticky one): 593 of 640 items in
    // one of two workers. Matched through the server, each worker takes a fair share.
    expect(Math.min(a.calls.size, b.calls.size)).toBeGreaterThanOrEqual(20);
  });

  it('a transient failure retries only the failed item; the rest of its lane goes out again, every item counts once', async () => {
    let flakyItem: string | undefined;
    const gen = scriptedGenerator({
      latencyMs: 10,
      // The first item generated after the first wave fails once: it sits in a lane of several.
      fail: (req) => {
        if (flakyItem === undefined && gen.calls.size > 12) flakyItem = req.itemId;
        return req.itemId === flakyItem && req.attempt === 1 ? new TransientGenerationError('simulated 503 (test)') : undefined;
      },
    });
    await start(gen);
    const { submitted, result, job, items } = await runToEnd(h, body(10, 5), LANED);
    expect(result).toMatchObject({ status: 'completed', successful: 40, failed: 0 });
    expect(job).toMatchObject({ successful_items: 40, failed_items: 0, completed_items: 40 });
    expect(byStatus(items)).toEqual({ completed: 40 });
    expect(await conversationCount(h.db, submitted.jobId)).toBe(40);
    expect(gen.calls.get(flakyItem!)).toBe(2);
    expect(await laneOf(h, submitted.workflowId, flakyItem!)).toBeGreaterThan(1);
    const redone = [...gen.calls.entries()].filter(([id, n]) => id !== flakyItem && n !== 1);
    expect(redone).toEqual([]);
  });

  it('retries running out fail only the item that failed; the counters match the rows', async () => {
    let doomed: string | undefined;
    const gen = scriptedGenerator({
      latencyMs: 10,
      fail: (req) => {
        if (doomed === undefined && gen.calls.size > 12) doomed = req.itemId;
        return req.itemId === doomed ? new TransientGenerationError('simulated outage (test)') : undefined;
      },
    });
    await start(gen);
    const { submitted, result, job, items } = await runToEnd(h, body(10, 5), { ...LANED, maxItemAttempts: 2 });
    expect(result).toMatchObject({ status: 'completed', successful: 39, failed: 1 });
    expect(job).toMatchObject({ successful_items: 39, failed_items: 1, completed_items: 40 });
    expect(byStatus(items)).toEqual({ completed: 39, failed: 1 });
    const failed = items.find((i) => i.status === 'failed')!;
    expect(failed.id).toBe(doomed);
    expect(failed.error_message).toBe('gave up after 2 attempts: simulated outage (test)');
    expect(gen.calls.get(doomed!)).toBe(2);
    expect(await laneOf(h, submitted.workflowId, doomed!)).toBeGreaterThan(1);
    expect([...gen.calls.entries()].filter(([id, n]) => id !== doomed && n !== 1)).toEqual([]);
  });

  it('a pause reaches running lanes at their next item: nothing starts while paused, the rest runs after resume, each item once', async () => {
    const gen = scriptedGenerator({ latencyMs: 60 });
    await start(gen);
    const s = await submit(h, body(10, 4), LANED);
    const handle = h.client.workflow.getHandle(s.workflowId);
    await waitFor(async () => byStatus(await itemRows(h.db, s.jobId)).completed! >= 8, 30_000, '8 items completed');
    await handle.signal('pause');
    await waitFor(
      async () => (await jobRow(h.db, s.jobId)).status === 'paused' && !byStatus(await itemRows(h.db, s.jobId)).processing,
      10_000,
      'paused, no item processing',
    );
    const callsAtPause = gen.startedAt.length;
    const rowsAtPause = byStatus(await itemRows(h.db, s.jobId));
    expect(rowsAtPause.queued).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1000));
    // Lanes of many items were running: they handed their unstarted items back instead of starting them.
    expect(gen.startedAt.length).toBe(callsAtPause);
    expect(byStatus(await itemRows(h.db, s.jobId))).toEqual(rowsAtPause);

    await handle.signal('resume');
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', successful: 40, failed: 0 });
    expect(byStatus(await itemRows(h.db, s.jobId))).toEqual({ completed: 40 });
    expect(await jobRow(h.db, s.jobId)).toMatchObject({ status: 'completed', successful_items: 40, completed_items: 40 });
    expect([...gen.calls.values()].every((n) => n === 1)).toBe(true);
    expect(gen.calls.size).toBe(40);
    // Some item went out in two lanes: first handed back by the pause, then run.
    const all = (await laneItemIds(h, s.workflowId)).flat();
    expect(all.length).toBeGreaterThan(40);
    expect(new Set(all).size).toBe(40);
  });

  it("error handling 'stop': once an item failed, no lane starts another (the claim sees the failure)", async () => {
    let failedAt: number | undefined;
    // Items take longer than writing the failure does, so each other lane starts at most one item after it.
    const gen = scriptedGenerator({
      latencyMs: 150,
      fail: () => {
        if (failedAt !== undefined || gen.calls.size < 12) return undefined;
        failedAt = Date.now();
        return new PermanentGenerationError('simulated 400 (test)', { status: 400 });
      },
    });
    await start(gen);
    const { result, job, items } = await runToEnd(h, body(10, 4, { errorHandling: 'stop' }), LANED);
    expect(result.status).toBe('failed');
    expect(result.errorMessage).toMatch(/^error handling 'stop': item \d+ failed: simulated 400 \(test\)$/);
    // Requests after the failure: at most one per other lane, each claimed before the failure was written.
    expect(gen.startedAt.filter((t) => t > failedAt!).length).toBeLessThanOrEqual(3);
    const counts = byStatus(items);
    expect(counts.failed).toBe(1);
    expect(job).toMatchObject({ status: 'failed', successful_items: counts.completed, failed_items: 1, cancelled_items: counts.cancelled });
    expect((counts.completed ?? 0) + 1 + (counts.cancelled ?? 0)).toBe(40);
  });

  it('a cancel while lanes run counts the items they finished, once', async () => {
    const gen = scriptedGenerator({ latencyMs: 150 });
    await start(gen);
    const s = await submit(h, body(20, 20), LANED);
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
    expect(Math.max(...(await laneSizes(h, s.workflowId)))).toBeGreaterThan(1);
  });
});
