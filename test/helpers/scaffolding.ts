import { randomUUID } from 'node:crypto';
import type { Db } from '../../src/db/client';
import type { Tier } from '../../src/domain/enums';

/** A template text using only placeholders the renderer fills. */
export const GOOD_TEMPLATE_TEXT =
  'Write a conversation between {{persona_name}} ({{persona_archetype}}) and an assistant about {{topic_name}}, ' +
  'moving from {{starting_emotion}} to {{ending_emotion}} in {{turn_count_min}}-{{turn_count_max}} turns. Return JSON.';

/** Inserts an emotional arc of the test's own (unique key) and returns its row. */
export async function createArc(db: Db, label: string): Promise<{ id: string; arc_key: string }> {
  const arcKey = `test_${label}_${randomUUID().slice(0, 8)}`;
  const { data, error } = await db
    .from('emotional_arcs')
    .insert({
      arc_key: arcKey,
      name: `Test arc ${label}`,
      starting_emotion: 'worry',
      ending_emotion: 'calm',
      typical_turn_count_min: 4,
      typical_turn_count_max: 6,
      conversation_category: 'core',
    })
    .select('id, arc_key')
    .single();
  if (error) throw new Error(`createArc: ${error.message}`);
  return data;
}

/** Inserts a template and returns its id. */
export async function createTemplate(
  db: Db,
  t: { arcKey: string | null; tier: Tier; rating: number; text?: string; active?: boolean; label?: string },
): Promise<string> {
  const { data, error } = await db
    .from('prompt_templates')
    .insert({
      template_name: `test_${t.label ?? 'tpl'}_${randomUUID().slice(0, 8)}`,
      template_text: t.text ?? GOOD_TEMPLATE_TEXT,
      tier: t.tier,
      emotional_arc_type: t.arcKey,
      is_active: t.active ?? true,
      rating: t.rating,
      variables: [],
    })
    .select('id')
    .single();
  if (error) throw new Error(`createTemplate: ${error.message}`);
  return data.id as string;
}
