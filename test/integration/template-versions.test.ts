import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScaffoldingCache } from '../../src/db/scaffolding';
import { exportConversationLines } from '../../src/export/jsonl';
import type { ConversationGenerator, GenerationRequest } from '../../src/generation';
import { createOfflineGenerator } from '../../src/generation';
import { patchScaffolding } from '../../src/scaffolding/write';
import { runToEnd, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { createArc, createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';

// A template edited while its batch runs: conversations made before and after the edit carry the
// version (and the prompt hash) they were rendered from, and the export says so.
describe('template versions', () => {
  let h: Harness;
  let worker: TestWorker;
  let templateId: string;
  const prompts: string[] = [];

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    const offline = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
    // The first item's call edits the template before it returns: the next item renders the new text.
    const generator: ConversationGenerator = {
      name: 'offline',
      async generate(req: GenerationRequest) {
        prompts.push(req.prompt);
        if (prompts.length === 1) {
          await patchScaffolding(h.db, 'templates', templateId, { templateText: `${GOOD_TEMPLATE_TEXT} Edited: keep it short.` });
        }
        return offline.generate(req);
      },
    };
    // No cache: the worker reads the template for every item, so the edit is seen by the very next one.
    worker = await startTestWorker(config, { db: h.db, generator, scaffolding: new ScaffoldingCache(h.db, 0) });
  });
  afterAll(async () => {
    await worker?.stop();
    await h.client.connection.close();
  });

  it('bumps the version on a text change only, and records it per conversation', async () => {
    const arc = await createArc(h.db, 'versions');
    templateId = await createTemplate(h.db, { arcKey: arc.arc_key, tier: 'template', rating: 5, label: 'versions' });
    const before = await h.db.from('prompt_templates').select('version').eq('id', templateId).single();
    expect(before.data?.version).toBe(1);
    // a change that leaves the text alone keeps the version; a client cannot set it
    await h.db.from('prompt_templates').update({ rating: 4, version: 42 }).eq('id', templateId);
    expect((await h.db.from('prompt_templates').select('version').eq('id', templateId).single()).data?.version).toBe(1);

    const seed = await seedIds(h.db);
    const { result, items, submitted } = await runToEnd(
      h,
      {
        personaIds: [seed.personas[0]!.id],
        emotionalArcIds: [arc.id],
        topicIds: seed.topics.slice(0, 2).map((t) => t.id),
        concurrentProcessing: 1,
      },
      { maxLaneSize: 1 },
    );
    expect(result.status).toBe('completed');
    const rows = await Promise.all(
      items.map(
        async (i) =>
          (await h.db.from('conversations').select('template_id, template_version, prompt_sha256').eq('batch_item_id', i.id).single())
            .data!,
      ),
    );
    expect(rows.map((r) => [r.template_id, r.template_version])).toEqual([
      [templateId, 1],
      [templateId, 2],
    ]);
    expect(prompts).toHaveLength(2);
    expect(prompts[1]).toContain('Edited: keep it short.');
    expect(rows.map((r) => r.prompt_sha256)).toEqual(prompts.map((p) => createHash('sha256').update(p).digest('hex')));
    expect((await h.db.from('prompt_templates').select('version').eq('id', templateId).single()).data?.version).toBe(2);

    let text = '';
    for await (const line of exportConversationLines(h.db, submitted.jobId)) text += line;
    const metadata = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).metadata);
    expect(metadata.map((m) => [m.template_version, m.prompt_sha256])).toEqual(rows.map((r) => [r.template_version, r.prompt_sha256]));
  });
});
