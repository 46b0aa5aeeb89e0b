import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitBatch } from '../../src/batches/submit';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { NIL_UUID } from '../../src/domain/enums';
import { seedIds, startTestWorker, testClient, testConfig, testDb } from '../helpers/env';

// The acceptance plan of the audit (docs/audit.md, "The audit's acceptance run"):
// 1 persona x 1 emotional arc x 2 topics with the NIL template, run end to end.
describe('the audit plan: 1 persona x 1 arc x 2 topics, NIL template', () => {
  let config: Config;
  let db: Db;
  let client: Client;

  beforeAll(async () => {
    config = testConfig();
    db = testDb(config);
    client = await testClient(config);
  });
  afterAll(async () => {
    await client.connection.close();
  });

  it('goes queued -> completed with two conversations from the auto-selected template', async () => {
    const seed = await seedIds(db);
    const persona = seed.personas[0]!;
    const arc = seed.arcs.find((a) => a.conversation_category === 'core')!;
    const topics = seed.topics.slice(0, 2);

    const submitted = await submitBatch(
      { db, temporal: client, config },
      {
        name: 'audit acceptance plan',
        personaIds: [persona.id],
        emotionalArcIds: [arc.id],
        topicIds: topics.map((t) => t.id),
        templateId: NIL_UUID,
      },
    );
    expect(submitted).toMatchObject({ status: 'queued', totalItems: 2, workflowId: `batch-${submitted.jobId}` });

    // No worker yet: the row waits in 'queued' (the status the legacy CHECK rejected).
    const queued = await db.from('batch_jobs').select('status, started_at').eq('id', submitted.jobId).single();
    expect(queued.data).toEqual({ status: 'queued', started_at: null });

    const worker = await startTestWorker(config, { db });
    try {
      const result = await client.workflow.getHandle(submitted.workflowId).result();
      expect(result).toMatchObject({ status: 'completed', successful: 2, failed: 0, cancelled: 0 });
    } finally {
      await worker.stop();
    }

    const job = await db.from('batch_jobs').select('*').eq('id', submitted.jobId).single();
    expect(job.data).toMatchObject({
      status: 'completed',
      total_items: 2,
      completed_items: 2,
      successful_items: 2,
      failed_items: 0,
      cancelled_items: 0,
    });
    expect(job.data!.started_at).not.toBeNull();
    expect(job.data!.completed_at).not.toBeNull();

    const items = await db.from('batch_items').select('*').eq('batch_job_id', submitted.jobId).order('position');
    expect(items.data).toHaveLength(2);
    for (const item of items.data!) {
      expect(item.status).toBe('completed');
      expect(item.conversation_id).toBeTruthy();
      expect(item.error_message).toBeNull();
    }

    const expectedTemplate = await db
      .from('prompt_templates')
      .select('id')
      .eq('emotional_arc_type', arc.arc_key)
      .eq('tier', 'template')
      .eq('is_active', true)
      .order('rating', { ascending: false })
      .limit(1)
      .single();
    const conversations = await db
      .from('conversations')
      .select('id, batch_item_id, template_id, persona_id, emotional_arc_id, is_synthetic, turn_count, conversation')
      .in(
        'batch_item_id',
        items.data!.map((i) => i.id),
      );
    expect(conversations.data).toHaveLength(2);
    for (const c of conversations.data!) {
      expect(c.template_id).toBe(expectedTemplate.data!.id);
      expect(c.persona_id).toBe(persona.id);
      expect(c.emotional_arc_id).toBe(arc.id);
      expect(c.is_synthetic).toBe(true);
      expect(c.turn_count).toBe((c.conversation as { turns: unknown[] }).turns.length);
      expect(items.data!.find((i) => i.id === c.batch_item_id)!.conversation_id).toBe(c.id);
    }
  });
});
