import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cancelSignal, pauseSignal, progressQuery, resumeSignal, setConcurrencySignal } from '../../workflows/messages';
import { byStatus, conversationCount, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { observedGenerator } from '../helpers/generators';

describe('pause, resume and cancel', () => {
  let h: Harness;
  let worker: TestWorker;
  let seen: ReturnType<typeof observedGenerator>['seen'];
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    const observed = observedGenerator({ latencyMs: 400 });
    seen = observed.seen;
    worker = await startTestWorker(config, { db: h.db, generator: observed.generator });
    seed = await seedIds(h.db);
  });
  afterAll(async () => {
    await worker.stop();
    await h.client.connection.close();
  });

  const body = (topics: number, concurrency: number) => ({
    personaIds: [seed.personas[0]!.id],
    emotionalArcIds: [seed.arcs[0]!.id],
    topicIds: seed.topics.slice(0, topics).map((t) => t.id),
    concurrentProcessing: concurrency,
  });
  const processingCount = async (jobId: string) => byStatus(await itemRows(h.db, jobId)).processing ?? 0;

  it('pause: the row says paused, in-flight items finish, none starts; resume completes the batch', async () => {
    seen.latencyMs = 400;
    const s = await submit(h, body(10, 2));
    const handle = h.client.workflow.getHandle(s.workflowId);
    // Item rows, not the job's counters: those move when a lane ends, and a lane may hold most of this small job.
    await waitFor(async () => (byStatus(await itemRows(h.db, s.jobId)).completed ?? 0) >= 2, 30_000, 'two items processed');
    await handle.signal(pauseSignal);
    await waitFor(async () => (await jobRow(h.db, s.jobId)).status === 'paused', 10_000, "status 'paused'");

    // In-flight items finish; then nothing moves while paused.
    await waitFor(async () => (await processingCount(s.jobId)) === 0, 10_000, 'in-flight items to finish');
    const frozen = byStatus(await itemRows(h.db, s.jobId));
    const callsWhenFrozen = seen.calls.length;
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 100));
      expect(await processingCount(s.jobId)).toBe(0);
    }
    expect(byStatus(await itemRows(h.db, s.jobId))).toEqual(frozen);
    expect(seen.calls.length).toBe(callsWhenFrozen);
    expect(frozen.queued).toBeGreaterThan(0);
    const progress = await handle.query(progressQuery);
    expect(progress).toMatchObject({ status: 'paused', inFlight: 0, totalItems: 10 });

    // The Web UI filter BatchStatus="paused" finds it (visibility is eventually consistent).
    await waitFor(
      async () => {
        for await (const wf of h.client.workflow.list({ query: `BatchStatus="paused" AND WorkflowId="${s.workflowId}"` })) {
          if (wf.workflowId === s.workflowId) return true;
        }
        return false;
      },
      15_000,
      'visibility query BatchStatus="paused"',
    );
    const checkpoints = await h.db.from('batch_checkpoints').select('reason').eq('job_id', s.jobId);
    expect(checkpoints.data!.map((c) => c.reason)).toContain('pause');

    await handle.signal(resumeSignal);
    await waitFor(async () => (await jobRow(h.db, s.jobId)).status === 'processing', 10_000, "status 'processing' after resume");
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', successful: 10, failed: 0 });
    expect(await jobRow(h.db, s.jobId)).toMatchObject({ status: 'completed', successful_items: 10, completed_items: 10 });
  });

  it('cancel by signal: in-flight generation is aborted, every open item is cancelled, no stray conversation', async () => {
    const s = await submit(h, body(8, 2));
    const handle = h.client.workflow.getHandle(s.workflowId);
    const inFlight = await twoGenerating();
    await handle.signal(cancelSignal);
    const result = await handle.result();
    expect(result.status).toBe('cancelled');
    await expectCancelled(s.jobId, inFlight, result.successful);
  });

  it('cancel by Temporal cancellation (handle.cancel / temporal workflow cancel) behaves the same', async () => {
    const s = await submit(h, body(8, 2));
    const handle = h.client.workflow.getHandle(s.workflowId);
    const inFlight = await twoGenerating();
    await handle.cancel();
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const description = await handle.describe();
    expect(description.status.name).toBe('CANCELLED');
    const job = await jobRow(h.db, s.jobId);
    await expectCancelled(s.jobId, inFlight, job.successful_items);
  });

  it("cancel reaches all of a batch's lanes on a worker at once; they end holding their items, not cancelled one by one", async () => {
    seen.latencyMs = 20_000;
    const s = await submit(h, body(12, 1));
    const handle = h.client.workflow.getHandle(s.workflowId);
    // Lanes started ~100 ms apart, so their heartbeats (which carry a cancel to each) fall at different moments.
    for (let lanes = 1; lanes <= 6; lanes++) {
      if (lanes > 1) await handle.signal(setConcurrencySignal, { concurrency: lanes });
      await waitFor(async () => seen.active.size === lanes, 15_000, `${lanes} items generating`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const inFlight = [...seen.active];
    const abortsBefore = seen.aborted.length;
    await handle.signal(cancelSignal);
    const result = await handle.result();
    expect(result.status).toBe('cancelled');
    await expectCancelled(s.jobId, inFlight, result.successful);

    // The first lane to hear the cancel (on its heartbeat) aborted the other five in the same moment: without
    // it each would wait for its own next heartbeat (up to the 300 ms throttle apart).
    const abortTimes = seen.abortedAt.slice(abortsBefore);
    expect(abortTimes).toHaveLength(6);
    expect(Math.max(...abortTimes) - Math.min(...abortTimes)).toBeLessThan(50);
    // Each lane answered by completing, its running item held (then cancelled by the workflow's end), so the
    // workflow needed no activity to ask the database what the cancelled lanes had done.
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = new Map<string, string>();
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a) scheduled.set(String(e.eventId), a.activityType!.name!);
    }
    const lanesEnded = { completed: 0, canceled: 0 };
    for (const e of events) {
      if (scheduled.get(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)) === 'processLane') lanesEnded.completed++;
      if (scheduled.get(String(e.activityTaskCanceledEventAttributes?.scheduledEventId)) === 'processLane') lanesEnded.canceled++;
    }
    expect(lanesEnded.canceled).toBe(0);
    expect(lanesEnded.completed).toBe([...scheduled.values()].filter((n) => n === 'processLane').length);
    expect([...scheduled.values()]).not.toContain('settleItems');
    seen.latencyMs = 400;
  });

  it('resume of a cancelled job is ignored by the workflow', async () => {
    const s = await submit(h, body(3, 1));
    const handle = h.client.workflow.getHandle(s.workflowId);
    await handle.signal(cancelSignal);
    await handle.signal(resumeSignal);
    const result = await handle.result();
    expect(result.status).toBe('cancelled');
    expect((await jobRow(h.db, s.jobId)).status).toBe('cancelled');
  });

  /** Waits until two items are inside the generator; slow generation keeps them there until cancelled. */
  async function twoGenerating(): Promise<string[]> {
    seen.latencyMs = 20_000;
    await waitFor(async () => seen.active.size === 2, 15_000, 'two items generating');
    return [...seen.active];
  }

  async function expectCancelled(jobId: string, inFlight: string[], successful: number) {
    const job = await jobRow(h.db, jobId);
    const items = await itemRows(h.db, jobId);
    const counts = byStatus(items);
    expect(job.status).toBe('cancelled');
    expect(job.completed_at).not.toBeNull();
    expect(counts.queued ?? 0).toBe(0);
    expect(counts.processing ?? 0).toBe(0);
    for (const id of inFlight) {
      expect(seen.aborted).toContain(id);
      expect(items.find((i) => i.id === id)!.status).toBe('cancelled');
    }
    expect(job.cancelled_items).toBe(counts.cancelled);
    expect(job.successful_items).toBe(counts.completed ?? 0);
    expect(counts.completed ?? 0).toBe(successful);
    // A conversation exists only for a completed item.
    expect(await conversationCount(h.db, jobId)).toBe(counts.completed ?? 0);
    for (const i of items) expect(i.conversation_id === null).toBe(i.status !== 'completed');
  }
});
