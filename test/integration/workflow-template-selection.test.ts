import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NIL_UUID } from '../../src/domain/enums';
import { runToEnd, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { observedGenerator } from '../helpers/generators';
import { createArc, createTemplate } from '../helpers/scaffolding';

describe('template auto-selection and strict placeholders', () => {
  let h: Harness;
  let worker: TestWorker;
  let seen: ReturnType<typeof observedGenerator>['seen'];
  let persona: string;
  let topic: string;

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    const observed = observedGenerator({ latencyMs: 0 });
    seen = observed.seen;
    worker = await startTestWorker(config, { db: h.db, generator: observed.generator });
    const seed = await seedIds(h.db);
    persona = seed.personas[0]!.id;
    topic = seed.topics[0]!.id;
  });
  afterAll(async () => {
    await worker.stop();
    await h.client.connection.close();
  });

  const templateOf = async (itemId: string) =>
    (await h.db.from('conversations').select('template_id').eq('batch_item_id', itemId).single()).data?.template_id;

  it('1: the arc and the tier, best rating first', async () => {
    const arc = await createArc(h.db, 'arc_tier');
    await createTemplate(h.db, { arcKey: arc.arc_key, tier: 'scenario', rating: 3 });
    const best = await createTemplate(h.db, { arcKey: arc.arc_key, tier: 'scenario', rating: 4.5 });
    await createTemplate(h.db, { arcKey: arc.arc_key, tier: 'template', rating: 5 });
    await createTemplate(h.db, { arcKey: arc.arc_key, tier: 'scenario', rating: 5, active: false });
    const { result, items } = await runToEnd(h, {
      tier: 'scenario',
      personaIds: [persona],
      emotionalArcIds: [arc.id],
      topicIds: [topic],
      templateId: NIL_UUID,
    });
    expect(result.status).toBe('completed');
    expect(await templateOf(items[0]!.id)).toBe(best);
  });

  it('2: else the arc in any tier', async () => {
    const arc = await createArc(h.db, 'arc_any_tier');
    const only = await createTemplate(h.db, { arcKey: arc.arc_key, tier: 'template', rating: 2 });
    const { result, items } = await runToEnd(h, { tier: 'edge_case', personaIds: [persona], emotionalArcIds: [arc.id], topicIds: [topic] });
    expect(result.status).toBe('completed');
    expect(await templateOf(items[0]!.id)).toBe(only);
  });

  it('3: else any active template of the tier, best rating first', async () => {
    const arc = await createArc(h.db, 'arc_none');
    const best = await createTemplate(h.db, { arcKey: 'some_other_arc', tier: 'scenario', rating: 99 });
    try {
      const { result, items } = await runToEnd(h, {
        tier: 'scenario',
        personaIds: [persona],
        emotionalArcIds: [arc.id],
        topicIds: [topic],
      });
      expect(result.status).toBe('completed');
      expect(await templateOf(items[0]!.id)).toBe(best);
    } finally {
      await h.db.from('prompt_templates').update({ is_active: false }).eq('id', best);
    }
  });

  it("4: else the item fails with 'No suitable template found for the emotional arc'", async () => {
    const arc = await createArc(h.db, 'arc_nothing');
    const active = await h.db.from('prompt_templates').select('id').eq('tier', 'edge_case').eq('is_active', true);
    const ids = active.data!.map((r) => r.id as string);
    await h.db.from('prompt_templates').update({ is_active: false }).in('id', ids);
    try {
      const calls = seen.calls.length;
      const { result, job, items } = await runToEnd(h, {
        tier: 'edge_case',
        personaIds: [persona],
        emotionalArcIds: [arc.id],
        topicIds: [topic],
      });
      expect(result.status).toBe('failed');
      expect(job).toMatchObject({ status: 'failed', failed_items: 1 });
      expect(items[0]).toMatchObject({ status: 'failed', conversation_id: null });
      expect(items[0]!.error_message).toContain('No suitable template found for the emotional arc');
      expect(items[0]!.error_message).toContain(arc.arc_key);
      expect(seen.calls.length).toBe(calls);
    } finally {
      await h.db.from('prompt_templates').update({ is_active: true }).in('id', ids);
    }
  });

  it('an unresolved placeholder fails the item naming it, and the model is never called', async () => {
    const arc = await createArc(h.db, 'arc_placeholder');
    const tpl = await createTemplate(h.db, {
      arcKey: arc.arc_key,
      tier: 'template',
      rating: 5,
      text: 'Talk to {{persona_name}} about {{topic_name}} on a {{budget_band}} budget at age {{persona_age}}.',
      label: 'needs_age',
    });
    const calls = seen.calls.length;
    const { result, items } = await runToEnd(h, { personaIds: [persona], emotionalArcIds: [arc.id], topicIds: [topic], templateId: tpl });
    await h.db.from('prompt_templates').update({ is_active: false }).eq('id', tpl);
    expect(result).toMatchObject({ status: 'failed', failed: 1 });
    expect(items[0]!.status).toBe('failed');
    expect(items[0]!.error_message).toContain('{{budget_band}}');
    expect(items[0]!.error_message).toContain('{{persona_age}}');
    expect(seen.calls.length).toBe(calls);
  });
});
