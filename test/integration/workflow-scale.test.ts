import { Worker } from '@temporalio/worker';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client';
import { dataDirPath } from '../../src/dev/paths';
import { byStatus, conversationCount, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { TEST_STACK_ENV, WORKFLOW_BUNDLE_FILE } from '../helpers/test-stack';

describe('a 2,000-item batch: paged, continued-as-new, bounded history', () => {
  let h: Harness;
  let worker: TestWorker;

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    worker = await startTestWorker(config, { db: createDb(config) });
  });
  afterAll(async () => {
    await worker.stop();
    await h.client.connection.close();
  });

  it('runs in several runs, each under 10,000 events, with exact counters and checkpoints; histories replay', async () => {
    // 2,000 items over the real scaffolding, as explicit parameter sets (the seed has 3 x 8 x 20 = 480 combinations).
    // Active seed rows only: other files add (and retire) rows of their own, some with templates that fail on purpose.
    const { personas, arcs, topics } = await seedIds(h.db);
    const parameterSets = Array.from({ length: 2000 }, (_, i) => ({
      personaId: personas[i % personas.length]!.id as string,
      emotionalArcId: arcs[Math.floor(i / 3) % arcs.length]!.id as string,
      topicId: topics[Math.floor(i / 24) % topics.length]!.id as string,
    }));
    const itemsPerRun = 300;
    const s = await submit(h, { parameterSets, concurrentProcessing: 20 }, { pageSize: 50, itemsPerRun });
    expect(s.totalItems).toBe(2000);
    const result = await h.client.workflow.getHandle(s.workflowId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 2000, failed: 0, cancelled: 0 });

    const job = await jobRow(h.db, s.jobId);
    expect(job).toMatchObject({ status: 'completed', total_items: 2000, successful_items: 2000, failed_items: 0, completed_items: 2000 });
    expect(byStatus(await itemRows(h.db, s.jobId))).toEqual({ completed: 2000 });
    expect(await conversationCount(h.db, s.jobId)).toBe(2000);

    const runs: string[] = [];
    for await (const wf of h.client.workflow.list({ query: `WorkflowId="${s.workflowId}"` })) runs.push(wf.runId);
    const expectedRuns = Math.ceil(2000 / itemsPerRun);
    expect(runs.length).toBe(expectedRuns);
    const histories = [];
    for (const runId of runs) {
      const history = await h.client.workflow.getHandle(s.workflowId, runId).fetchHistory();
      expect(history.events!.length).toBeLessThan(10_000);
      histories.push({ workflowId: s.workflowId, history });
    }

    const checkpoints = await h.db
      .from('batch_checkpoints')
      .select('reason, cursor_position, counters')
      .eq('job_id', s.jobId)
      .order('cursor_position');
    const reasons = checkpoints.data!.map((c) => c.reason);
    expect(reasons.filter((r) => r === 'continue_as_new')).toHaveLength(expectedRuns - 1);
    expect(reasons.filter((r) => r === 'finish')).toHaveLength(1);
    const cans = checkpoints.data!.filter((c) => c.reason === 'continue_as_new');
    cans.forEach((c, i) => {
      expect(c.cursor_position).toBe((i + 1) * itemsPerRun);
      expect(c.counters).toMatchObject({ successful: (i + 1) * itemsPerRun, failed: 0 });
    });

    // Determinism: every recorded history replays against the current workflow code.
    const replays = Worker.runReplayHistories(
      { workflowBundle: { codePath: path.join(dataDirPath(TEST_STACK_ENV.BULKGEN_DATA_DIR), WORKFLOW_BUNDLE_FILE) } },
      histories,
    );
    let replayed = 0;
    for await (const r of replays) {
      expect(r.error).toBeUndefined();
      replayed++;
    }
    expect(replayed).toBe(expectedRuns);
  });
});
