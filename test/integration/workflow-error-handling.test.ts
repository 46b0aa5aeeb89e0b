import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byStatus, conversationCount, runToEnd, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';

// Failures that no retry fixes come from a template with a placeholder nobody
// supplies: deterministic, and the item fails without the generator running.
describe('error handling: continue, stop, tolerance, all failed', () => {
  let h: Harness;
  let worker: TestWorker;
  let good: string;
  let bad: string;
  let ids: { persona: string; arc: string; topic: string };

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    worker = await startTestWorker(config, { db: h.db });
    const seed = await seedIds(h.db);
    ids = { persona: seed.personas[0]!.id, arc: seed.arcs[0]!.id, topic: seed.topics[0]!.id };
    good = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'good',
    });
    bad = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: 'Hello {{persona_name}}, you are {{persona_age}}.',
      label: 'bad',
    });
  });
  afterAll(async () => {
    await worker.stop();
    await h.client.connection.close();
  });

  const sets = (pattern: string) =>
    [...pattern].map((c) => ({ personaId: ids.persona, emotionalArcId: ids.arc, topicId: ids.topic, templateId: c === 'g' ? good : bad }));

  it("'continue' runs every item and completes with the failures counted", async () => {
    const { result, job, items } = await runToEnd(h, { parameterSets: sets('gbgb'), errorHandling: 'continue', concurrentProcessing: 2 });
    expect(result).toMatchObject({ status: 'completed', successful: 2, failed: 2, cancelled: 0 });
    expect(job).toMatchObject({
      status: 'completed',
      total_items: 4,
      successful_items: 2,
      failed_items: 2,
      completed_items: 4,
      cancelled_items: 0,
    });
    expect(byStatus(items)).toEqual({ completed: 2, failed: 2 });
    for (const item of items.filter((i) => i.status === 'failed')) {
      expect(item.error_message).toMatch(/has no value for \{\{persona_age\}\}/);
      expect(item.conversation_id).toBeNull();
    }
    expect(await conversationCount(h.db, job.id)).toBe(2);
  });

  it("'stop' fails the job at the first failure and cancels the unstarted items", async () => {
    const { result, job, items } = await runToEnd(h, { parameterSets: sets('gbgg'), errorHandling: 'stop', concurrentProcessing: 1 });
    expect(result).toMatchObject({ status: 'failed', successful: 1, failed: 1, cancelled: 2 });
    expect(job).toMatchObject({ status: 'failed', successful_items: 1, failed_items: 1, completed_items: 2, cancelled_items: 2 });
    expect(job.error_message).toMatch(/'stop': item 2 failed/);
    expect(items.map((i) => i.status)).toEqual(['completed', 'failed', 'cancelled', 'cancelled']);
    expect(job.completed_at).not.toBeNull();
  });

  it('a failure share over the tolerance fails the job early; within it, the job completes', async () => {
    const over = await runToEnd(h, { parameterSets: sets('gbbggg'), toleratedFailurePercent: 20, concurrentProcessing: 1 });
    expect(over.result).toMatchObject({ status: 'failed', successful: 1, failed: 2, cancelled: 3 });
    expect(over.job).toMatchObject({ status: 'failed', successful_items: 1, failed_items: 2, completed_items: 3, cancelled_items: 3 });
    expect(over.job.error_message).toMatch(/exceeded the tolerated 20%/);

    const within = await runToEnd(h, { parameterSets: sets('gbbggg'), toleratedFailurePercent: 50, concurrentProcessing: 1 });
    expect(within.result).toMatchObject({ status: 'completed', successful: 4, failed: 2, cancelled: 0 });
    expect(within.job).toMatchObject({ status: 'completed', successful_items: 4, failed_items: 2, completed_items: 6, cancelled_items: 0 });
  });

  it('every item failed -> the job fails, whatever the policy', async () => {
    const { result, job, items } = await runToEnd(h, { parameterSets: sets('bbb'), errorHandling: 'continue', concurrentProcessing: 3 });
    expect(result).toMatchObject({ status: 'failed', successful: 0, failed: 3, cancelled: 0 });
    expect(job).toMatchObject({ status: 'failed', successful_items: 0, failed_items: 3, completed_items: 3, cancelled_items: 0 });
    expect(job.error_message).toMatch(/every item failed/);
    expect(byStatus(items)).toEqual({ failed: 3 });
  });
});
