import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progressQuery, setConcurrencySignal } from '../../workflows/messages';
import { byStatus, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { observedGenerator } from '../helpers/generators';

describe('bounded concurrency', () => {
  let h: Harness;
  let worker: TestWorker;
  let seen: ReturnType<typeof observedGenerator>['seen'];
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    const observed = observedGenerator({ latencyMs: 120 });
    seen = observed.seen;
    worker = await startTestWorker(config, { db: h.db, generator: observed.generator });
    seed = await seedIds(h.db);
  });
  afterAll(async () => {
    await worker.stop();
    await h.client.connection.close();
  });

  it('never more than concurrent_processing items in flight, also after a live change', async () => {
    seen.resetMax();
    const s = await submit(h, {
      personaIds: seed.personas.slice(0, 2).map((p) => p.id),
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: seed.topics.slice(0, 20).map((t) => t.id),
      concurrentProcessing: 3,
    });
    const handle = h.client.workflow.getHandle(s.workflowId);
    // Sample the database while the first phase runs: 'processing' rows never exceed 3.
    let maxProcessingRows = 0;
    await waitFor(
      async () => {
        const counts = byStatus(await itemRows(h.db, s.jobId));
        maxProcessingRows = Math.max(maxProcessingRows, counts.processing ?? 0);
        return (counts.completed ?? 0) >= 12;
      },
      30_000,
      '12 items completed',
    );
    expect(seen.maxInFlight).toBe(3);
    expect(maxProcessingRows).toBeLessThanOrEqual(3);

    await handle.signal(setConcurrencySignal, { concurrency: 6 });
    await waitFor(async () => (await jobRow(h.db, s.jobId)).concurrent_processing === 6, 10_000, 'concurrent_processing = 6 in the row');
    seen.resetMax();
    let maxAfter = 0;
    await waitFor(
      async () => {
        const counts = byStatus(await itemRows(h.db, s.jobId));
        maxAfter = Math.max(maxAfter, counts.processing ?? 0);
        return (counts.completed ?? 0) >= 30;
      },
      30_000,
      '30 items completed',
    );
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', successful: 40 });
    expect(seen.maxInFlight).toBeLessThanOrEqual(6);
    expect(seen.maxInFlight).toBeGreaterThan(3);
    expect(maxAfter).toBeLessThanOrEqual(6);
  });

  it('an invalid concurrency is ignored; the progress query reports the one in force', async () => {
    const s = await submit(h, {
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: seed.topics.slice(0, 6).map((t) => t.id),
      concurrentProcessing: 2,
    });
    const handle = h.client.workflow.getHandle(s.workflowId);
    await handle.signal(setConcurrencySignal, { concurrency: 0 });
    await handle.signal(setConcurrencySignal, { concurrency: 5000 });
    // Until the first activity has read the job row, the query reports totalItems 0.
    const p = await waitFor(
      async () => {
        const q = await handle.query(progressQuery);
        return q.totalItems === 6 && q;
      },
      10_000,
      'the job settings to be loaded',
    );
    expect(p.concurrency).toBe(2);
    expect((await handle.result()).status).toBe('completed');
    expect((await jobRow(h.db, s.jobId)).concurrent_processing).toBe(2);
  });
});
