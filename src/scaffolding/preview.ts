import type { Db } from '../db/client';
import { SELECTION_REASONS, selectTemplateWithRule, type SelectionRule } from '../db/scaffolding';
import { findScaffoldingRow } from '../db/scaffolding-writes';
import { NIL_UUID, type Tier } from '../domain/enums';
import type { EmotionalArcRow, PersonaRow, PromptTemplateRow, TopicRow } from '../domain/rows';
import { BulkgenError } from '../errors';
import { buildTemplateVariables, renderTemplate } from '../generation/render';

/** What to preview: an item's scaffolding, and a template id (absent or the NIL uuid: auto-select). */
export interface PreviewRequest {
  templateId?: string | undefined;
  personaId: string;
  emotionalArcId: string;
  topicId: string;
  tier?: Tier | undefined;
}

/** The prompt an item would send, without calling a model. */
export interface PreviewResult {
  template: { id: string; templateName: string; version: number; tier: Tier; emotionalArcType: string | null };
  /** How auto-selection found the template; null when the template was given. */
  selection: { rule: SelectionRule; reason: string } | null;
  prompt: string;
  /** `prompt.length` (UTF-16 code units, as JavaScript counts). */
  characters: number;
  /** ceil(characters / 4): a rough count for English text; a provider's tokenizer differs. */
  estimatedTokens: number;
}

/**
 * Renders the prompt the item chain would send for these rows (the same variables and the same strict
 * renderer): a given template, or the one auto-selection picks and which rule picked it.
 *
 * @throws UNKNOWN_REFERENCE (422, naming the field) for an id of the body that names no row, as a start body's
 *   ids are answered; NOT_FOUND (404) for the template of the path (`templateInPath`) only;
 *   TEMPLATE_NOT_FOUND when no template fits, TEMPLATE_MISSING_PLACEHOLDER when a placeholder has no value.
 */
export async function previewPrompt(db: Db, req: PreviewRequest, opts: { templateInPath?: boolean } = {}): Promise<PreviewResult> {
  const tier = req.tier ?? 'template';
  const [persona, arc, topic] = await Promise.all([
    must<PersonaRow>(db, 'personas', req.personaId, 'personaId'),
    must<EmotionalArcRow>(db, 'emotional_arcs', req.emotionalArcId, 'emotionalArcId'),
    must<TopicRow>(db, 'training_topics', req.topicId, 'topicId'),
  ]);
  let template: PromptTemplateRow;
  let selection: PreviewResult['selection'] = null;
  if (req.templateId && req.templateId !== NIL_UUID) {
    template = await must<PromptTemplateRow>(db, 'prompt_templates', req.templateId, 'templateId', opts.templateInPath);
  } else {
    const picked = await selectTemplateWithRule(db, arc.arc_key, tier);
    if (!picked) throw new BulkgenError('TEMPLATE_NOT_FOUND', { arc: arc.arc_key, tier });
    template = picked.template;
    selection = { rule: picked.rule, reason: SELECTION_REASONS[picked.rule] };
  }
  const prompt = renderTemplate(template.template_text, buildTemplateVariables({ persona, arc, topic, tier }), {
    templateName: template.template_name,
  });
  return {
    template: {
      id: template.id,
      templateName: template.template_name,
      version: template.version,
      tier: template.tier,
      emotionalArcType: template.emotional_arc_type ?? null,
    },
    selection,
    prompt,
    characters: prompt.length,
    estimatedTokens: Math.ceil(prompt.length / 4),
  };
}

async function must<T>(db: Db, table: Parameters<typeof findScaffoldingRow>[1], id: string, field: string, inPath = false): Promise<T> {
  const row = await findScaffoldingRow(db, table, id);
  if (row) return row as T;
  if (inPath) throw new BulkgenError('NOT_FOUND', { what: `${field} '${id}' (${table})` });
  throw new BulkgenError('UNKNOWN_REFERENCE', { field, detail: `no ${table} row with id '${id}'` }, { field });
}
