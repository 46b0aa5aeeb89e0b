import { randomUUID } from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import type { ProcessLaneResult } from '../../workflows/contract';
import { createOfflineGenerator } from '../../src/generation';
import { conversationCount, itemRows, submit, type Harness } from '../helpers/batches';
import { seedIds, testClient, testConfig, testDb } from '../helpers/env';

describe('idempotency', () => {
  let h: Harness;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    // No worker polls this task queue: submitted workflows wait, the test drives activities itself.
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    seed = await seedIds(h.db);
  });
  afterAll(async () => {
    await h.client.connection.close();
  });

  it('the item chain run twice (a retried one-item lane) leaves one conversation', async () => {
    const s = await submit(h, { personaIds: [seed.personas[0]!.id], emotionalArcIds: [seed.arcs[0]!.id], topicIds: [seed.topics[0]!.id] });
    await h.client.workflow.getHandle(s.workflowId).terminate('the test runs the activities itself');
    const [item] = await itemRows(h.db, s.jobId);
    const activities = createActivities({ db: h.db, generator: createOfflineGenerator({ latencyMs: 0, failureRate: 0 }) });

    const lane = async (attempt: number) => {
      const { results }: ProcessLaneResult = await new MockActivityEnvironment({ attempt }).run(activities.processLane, {
        jobId: s.jobId,
        itemIds: [item!.id],
      });
      expect(results).toHaveLength(1);
      return results[0]!;
    };
    const first = await lane(1);
    // A retry after a lost completion: the item is back in 'processing', the chain runs again.
    await h.db.from('batch_items').update({ status: 'processing' }).eq('id', item!.id);
    const second = await lane(2);
    // And a third call on the completed item returns its conversation without generating.
    const third = await lane(3);

    expect(first.outcome).toBe('completed');
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(await conversationCount(h.db, s.jobId)).toBe(1);
    const [after] = await itemRows(h.db, s.jobId);
    expect(after).toMatchObject({ status: 'completed', conversation_id: first.conversationId });
  });

  it('submitting twice with one Idempotency-Key gives one job and one workflow', async () => {
    const key = `idem-${randomUUID()}`;
    const body = {
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: seed.topics.slice(0, 3).map((t) => t.id),
      name: key,
    };
    const [a, b] = await Promise.all([submit(h, body, undefined, key), submit(h, body, undefined, key)]);
    const c = await submit(h, body, undefined, key);
    expect(b.jobId).toBe(a.jobId);
    expect(c.jobId).toBe(a.jobId);
    expect([a.created, b.created, c.created].filter(Boolean)).toHaveLength(1);
    const jobs = await h.db.from('batch_jobs').select('id').eq('name', key);
    expect(jobs.data).toHaveLength(1);
    const items = await itemRows(h.db, a.jobId);
    expect(items).toHaveLength(3);
    const runs: string[] = [];
    for await (const wf of h.client.workflow.list({ query: `WorkflowId="${a.workflowId}"` })) runs.push(wf.runId);
    expect(runs.length).toBeLessThanOrEqual(1);
    const described = await h.client.workflow.getHandle(a.workflowId).describe();
    expect(described.status.name).toBe('RUNNING');
    await h.client.workflow.getHandle(a.workflowId).terminate('test done');
  });
});
