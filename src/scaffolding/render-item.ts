import type { ScaffoldingCache } from '../db/scaffolding';
import { NIL_UUID } from '../domain/enums';
import type { BatchItemRow, PromptTemplateRow } from '../domain/rows';
import { BulkgenError } from '../errors';
import { buildTemplateVariables, cacheablePrefix, renderTemplate } from '../generation';

/** What rendering an item reads of it: its ids and tier (a batch item row, or a parameter set not yet stored). */
export type RenderableItem = Pick<BatchItemRow, 'parameters' | 'tier'>;

/**
 * The item's scaffolding (persona, arc, topic and its template, chosen when the item names none) and its prompt,
 * rendered strictly: a missing template or placeholder throws the error the item fails with. `dbCall` wraps the
 * scaffolding reads (the outage wait).
 */
export async function renderItem(
  cache: ScaffoldingCache,
  item: RenderableItem,
  dbCall: <T>(what: string, run: () => Promise<T>) => Promise<T> = (_what, run) => run(),
) {
  const { template, persona, arc, topic } = await dbCall('scaffolding', () => resolveScaffolding(cache, item));
  const prompt = renderTemplate(template.template_text, buildTemplateVariables({ persona, arc, topic, tier: item.tier }), {
    templateName: template.template_name,
  });
  // The static head every item of the template starts with: where a provider's prompt cache can reuse it.
  return { template, persona, arc, topic, prompt, cachePrefix: cacheablePrefix(template.template_text, prompt) };
}

async function resolveScaffolding(cache: ScaffoldingCache, item: RenderableItem) {
  const p = item.parameters;
  const [persona, arc, topic] = await Promise.all([
    cache.persona(p.persona_id),
    cache.arc(p.emotional_arc_id),
    cache.topic(p.training_topic_id),
  ]);
  let template: PromptTemplateRow | undefined;
  if (p.template_id && p.template_id !== NIL_UUID) {
    template = await cache.template(p.template_id);
  } else {
    template = await cache.selectedTemplate(arc.arc_key, item.tier);
    if (!template) {
      throw new BulkgenError('TEMPLATE_NOT_FOUND', { arc: arc.arc_key, tier: item.tier });
    }
  }
  return { template, persona, arc, topic };
}
