import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { NIL_UUID } from '../../src/domain/enums';
import { createOfflineBatchProvider } from '../../src/generation/batch/offline-batch';
import type { BatchProvider } from '../../src/generation/batch/provider-batch';
import { byStatus, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

/** The offline batch mode, counting what the workflow asked of it (the real provider's stand-ins count on the wire). */
function counted(provider: BatchProvider) {
  const calls = { creates: [] as string[][], cancels: [] as string[] };
  const wrapped: BatchProvider = {
    ...provider,
    buildLine: (input) => provider.buildLine(input),
    create: async (lines, key, signal) => {
      calls.creates.push(lines.map((l) => l.customId));
      return provider.create(lines, key, signal);
    },
    get: (id, signal) => provider.get(id, signal),
    results: (id, signal) => provider.results(id, signal),
    cancel: async (id, signal) => {
      calls.cancels.push(id);
      return provider.cancel(id, signal);
    },
  };
  return { provider: wrapped, calls };
}

const settings = { maxChunksOut: 2, pollMinMs: 100, pollMaxMs: 400 };

// executionMode 'provider-batch' with the offline generator's batch mode (real stack).
describe('provider-batch mode, offline batch API', () => {
  let h: Harness;
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  const offline = counted(createOfflineBatchProvider({ latencyMs: 300, failureRate: 0 }));

  beforeAll(async () => {
    config = testConfig();
    db = testDb(config);
    client = await testClient(config);
    h = { config, db, client };
    worker = await startTestWorker(config, {
      db,
      providerBatch: { provider: offline.provider, chunkSize: 10, fallbackAfterMs: 3_600_000, settings },
    });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await worker?.stop();
    await client?.connection.close();
  });

  const body = (topics: number, extra: Record<string, unknown> = {}) => ({
    personaIds: seed.personas.slice(0, 2).map((p) => p.id),
    emotionalArcIds: seed.arcs.slice(0, 3).map((a) => a.id),
    topicIds: seed.topics.slice(0, topics).map((t) => t.id),
    templateId: NIL_UUID,
    concurrentProcessing: 5,
    executionMode: 'provider-batch',
    ...extra,
  });

  it('sends the items in chunks, one create per chunk, and stores one conversation per item', async () => {
    const before = offline.calls.creates.length;
    const { jobId, workflowId } = await submit(h, body(5));
    const result = await client.workflow.getHandle(workflowId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 30, failed: 0 });

    const job = await jobRow(db, jobId);
    expect(job).toMatchObject({ status: 'completed', execution_mode: 'provider-batch', successful_items: 30, failed_items: 0 });
    const items = await itemRows(db, jobId);
    expect(byStatus(items)).toEqual({ completed: 30 });
    expect(items.every((i) => i.provider_submissions === 1 && i.provider_chunk_id === null)).toBe(true);

    const creates = offline.calls.creates.slice(before);
    expect(creates.map((c) => c.length)).toEqual([10, 10, 10]);
    expect(new Set(creates.flat())).toEqual(new Set(items.map((i) => i.id)));

    const chunks = (await db.from('provider_batches').select('status, item_ids, provider_batch_id').eq('batch_job_id', jobId)).data!;
    expect(chunks).toHaveLength(3);
    expect(chunks.every((c) => c.status === 'ingested' && c.item_ids.length === 10 && c.provider_batch_id)).toBe(true);

    const conversations = (
      await db
        .from('conversations')
        .select('batch_item_id, execution_mode, generator')
        .in(
          'batch_item_id',
          items.map((i) => i.id),
        )
    ).data!;
    expect(conversations).toHaveLength(30);
    expect(new Set(conversations.map((c) => c.batch_item_id)).size).toBe(30);
    expect(conversations.every((c) => c.execution_mode === 'provider-batch' && c.generator === 'offline')).toBe(true);
  });

  it('pause stops new chunks (those out are ingested), resume sends the rest; cancel cancels what is out', async () => {
    const { jobId, workflowId } = await submit(h, body(5));
    const handle = client.workflow.getHandle(workflowId);
    await waitFor(async () => (await jobRow(db, jobId)).status === 'processing', 20_000, 'the job to start');
    await handle.signal('pause');
    await waitFor(async () => (await jobRow(db, jobId)).status === 'paused', 10_000, 'the job to pause');
    // The two chunks out finish and are ingested; nothing more goes out while paused.
    await waitFor(async () => byStatus(await itemRows(db, jobId)).processing === undefined, 20_000, 'the chunks out to be ingested');
    const whilePaused = byStatus(await itemRows(db, jobId));
    expect(whilePaused.completed).toBe(20);
    expect(whilePaused.queued).toBe(10);
    await new Promise((r) => setTimeout(r, 800));
    expect(byStatus(await itemRows(db, jobId))).toEqual(whilePaused);

    await handle.signal('resume');
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', successful: 30 });

    // Cancel with chunks out: each open provider batch is cancelled, its items end cancelled, nothing stays queued.
    const second = await submit(h, body(5));
    const cancelsBefore = offline.calls.cancels.length;
    await waitFor(
      async () =>
        ((await db.from('provider_batches').select('id').eq('batch_job_id', second.jobId).eq('status', 'submitted')).data ?? []).length ===
        2,
      20_000,
      'two chunks out',
    );
    await client.workflow.getHandle(second.workflowId).signal('cancel');
    const cancelled = await client.workflow.getHandle(second.workflowId).result();
    expect(cancelled.status).toBe('cancelled');
    expect(offline.calls.cancels.length - cancelsBefore).toBe(2);
    const items = byStatus(await itemRows(db, second.jobId));
    expect(items.queued).toBeUndefined();
    expect(items.processing).toBeUndefined();
    expect((items.cancelled ?? 0) + (items.completed ?? 0)).toBe(30);
    const chunks = (await db.from('provider_batches').select('status').eq('batch_job_id', second.jobId)).data!;
    expect(chunks.map((c) => c.status).sort()).toEqual(['cancelled', 'cancelled']);
  });

  it('a run that continues-as-new with chunks out: the next run polls the same provider batches, no chunk is sent twice', async () => {
    const small = counted(createOfflineBatchProvider({ latencyMs: 400, failureRate: 0 }));
    const cfg = testConfig();
    const w = await startTestWorker(cfg, {
      db,
      // A history bound of 40 events: a run ends after a few polls, with chunks still out.
      providerBatch: { provider: small.provider, chunkSize: 4, fallbackAfterMs: 3_600_000, settings: { ...settings, historyLimit: 40 } },
    });
    try {
      const { jobId, workflowId } = await submit({ ...h, config: cfg }, body(4));
      const result = await client.workflow.getHandle(workflowId).result();
      expect(result).toMatchObject({ status: 'completed', successful: 24, failed: 0 });
      const runs: string[] = [];
      for await (const wf of client.workflow.list({ query: `WorkflowId="${workflowId}"` })) runs.push(wf.runId);
      expect(runs.length).toBeGreaterThan(1);
      expect(small.calls.creates.map((c) => c.length)).toEqual([4, 4, 4, 4, 4, 4]);
      expect(new Set(small.calls.creates.flat()).size).toBe(24);
      const items = await itemRows(db, jobId);
      expect(byStatus(items)).toEqual({ completed: 24 });
      expect(items.every((i) => i.provider_submissions === 1)).toBe(true);
      const checkpoints = (await db.from('batch_checkpoints').select('reason').eq('job_id', jobId)).data!;
      expect(checkpoints.filter((c) => c.reason === 'continue_as_new').length).toBe(runs.length - 1);
    } finally {
      await w.stop();
    }
  });
});
