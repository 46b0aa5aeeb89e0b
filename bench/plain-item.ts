/**
 * What the baselines without Temporal do per item (the plain promise pool in `run.ts` and the pg-boss
 * peer in `pgboss.ts`): the same supabase-js writes as the durable path's item chain (claim, then the
 * one RPC that stores the conversation and completes the item), the same offline generator and
 * template rendering.
 */
import type { Db } from '../src/db/client';
import { completeItemWithConversation, conversationRecord } from '../src/db/conversations';
import { claimItem } from '../src/db/items';
import { ScaffoldingCache } from '../src/db/scaffolding';
import { buildTemplateVariables, createOfflineGenerator, renderTemplate } from '../src/generation';

/** One parameter set of the seed scaffolding, as `create_batch_job` takes it. */
export interface BenchParameterSet {
  personaId: string;
  emotionalArcId: string;
  topicId: string;
}

/** A job and its items made by `create_batch_job` without a workflow; returns the item ids in position order. */
export async function createBareJob(
  db: Db,
  name: string,
  sets: BenchParameterSet[],
  concurrency: number,
): Promise<{ jobId: string; itemIds: string[] }> {
  const created = await db.rpc('create_batch_job', {
    p_job: { name, tier: 'template', concurrent_processing: concurrency },
    p_parameter_sets: sets.map((s) => ({ persona_id: s.personaId, emotional_arc_id: s.emotionalArcId, training_topic_id: s.topicId })),
  });
  if (created.error) throw new Error(`create_batch_job for '${name}': ${created.error.message}`);
  const jobId = (created.data as { job_id: string }).job_id;
  const ids = await db.from('batch_items').select('id').eq('batch_job_id', jobId).order('position').limit(100_000);
  if (ids.error) throw new Error(`batch_items of job '${jobId}': ${ids.error.message}`);
  return { jobId, itemIds: ids.data.map((r) => r.id as string) };
}

/**
 * A function that runs one item the plain way: claim, render, generate (offline, `latencyMs` with the
 * usual 0.5x-1.5x jitter), store and complete. `signal` aborts the generation (a cancel).
 */
export function plainItemRunner(db: Db, latencyMs: number): (itemId: string, signal?: AbortSignal) => Promise<void> {
  const generator = createOfflineGenerator({ latencyMs, failureRate: 0 });
  const cache = new ScaffoldingCache(db);
  return async (itemId, signal = new AbortController().signal) => {
    const item = await claimItem(db, itemId, new Date().toISOString());
    if (!item) throw new Error(`batch item '${itemId}' does not exist`);
    const p = item.parameters;
    const [persona, arc, topic] = await Promise.all([
      cache.persona(p.persona_id),
      cache.arc(p.emotional_arc_id),
      cache.topic(p.training_topic_id),
    ]);
    const template = await cache.selectedTemplate(arc.arc_key, item.tier);
    if (!template) throw new Error(`no selected template for arc '${arc.arc_key}' and tier '${item.tier}'`);
    const prompt = renderTemplate(template.template_text, buildTemplateVariables({ persona, arc, topic, tier: item.tier }));
    const r = await generator.generate({ itemId, prompt, persona, arc, topic, tier: item.tier, attempt: 1, signal });
    await completeItemWithConversation(db, itemId, conversationRecord({ persona, arc, topic, template, tier: item.tier }, prompt, r));
  };
}
