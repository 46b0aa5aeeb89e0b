import type { Tier } from '../domain/enums';
import type { EmotionalArcRow, PersonaRow, PromptTemplateRow, TopicRow } from '../domain/rows';
import { BulkgenError } from '../errors';
import type { Db } from './client';
import { unwrap } from './errors';

/** Scaffolding tables and their key column, for the read-only lists. */
const SCAFFOLDING = {
  personas: 'persona_key',
  emotional_arcs: 'arc_key',
  training_topics: 'topic_key',
  prompt_templates: 'template_name',
} as const;
export type ScaffoldingTable = keyof typeof SCAFFOLDING;

/** Reads one scaffolding row by id; NOT_FOUND names the table and id. */
async function getScaffoldingRow<T>(db: Db, table: ScaffoldingTable, id: string): Promise<T> {
  const row = unwrap(table, await db.from(table).select('*').eq('id', id).maybeSingle<T>());
  if (!row) throw new BulkgenError('NOT_FOUND', { what: `${table} row '${id}'` });
  return row;
}

/** Lists a scaffolding table by its key (small tables: no paging). */
export async function listScaffolding<T>(db: Db, table: ScaffoldingTable): Promise<T[]> {
  return unwrap(table, await db.from(table).select('*').order(SCAFFOLDING[table], { ascending: true }).returns<T[]>());
}

/** Which rule of template auto-selection picked a template (README, "Template auto-selection"). */
export type SelectionRule = 'arc_and_tier' | 'arc_any_tier' | 'tier_any_arc';

/** Why each rule picks, in words, for the preview. */
export const SELECTION_REASONS: Record<SelectionRule, string> = {
  arc_and_tier: "an active template written for the arc's arc_key in the item's tier, best rating first",
  arc_any_tier: "no active template for the arc in the item's tier: one written for the arc in any tier, best rating first",
  tier_any_arc: "no active template written for the arc: any active template of the item's tier, best rating first",
};

/**
 * The best active template for an arc key and tier, and the rule that found it (docs/architecture.md,
 * "Template auto-selection"): arc + tier, best rating first; else arc in any tier; else any active
 * template of the tier; else undefined.
 */
export async function selectTemplateWithRule(
  db: Db,
  arcKey: string,
  tier: Tier,
): Promise<{ template: PromptTemplateRow; rule: SelectionRule } | undefined> {
  const base = () => db.from('prompt_templates').select('*').eq('is_active', true);
  const attempts = [
    ['arc_and_tier', () => base().eq('emotional_arc_type', arcKey).eq('tier', tier)],
    ['arc_any_tier', () => base().eq('emotional_arc_type', arcKey)],
    ['tier_any_arc', () => base().eq('tier', tier)],
  ] as const;
  for (const [rule, query] of attempts) {
    const rows = unwrap(
      'prompt_templates',
      await query().order('rating', { ascending: false }).order('template_name', { ascending: true }).limit(1),
    );
    if (rows[0]) return { template: rows[0], rule };
  }
  return undefined;
}

async function selectTemplate(db: Db, arcKey: string, tier: Tier): Promise<PromptTemplateRow | undefined> {
  return (await selectTemplateWithRule(db, arcKey, tier))?.template;
}

/**
 * A per-worker cache of scaffolding rows and template choices, so an item
 * costs no reads for what every item of a batch shares. Entries live for
 * `ttlMs`, so an edited template is picked up within that time.
 */
export class ScaffoldingCache {
  private readonly entries = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  persona(id: string): Promise<PersonaRow> {
    return this.cached(`persona:${id}`, () => getScaffoldingRow<PersonaRow>(this.db, 'personas', id));
  }

  arc(id: string): Promise<EmotionalArcRow> {
    return this.cached(`arc:${id}`, () => getScaffoldingRow<EmotionalArcRow>(this.db, 'emotional_arcs', id));
  }

  topic(id: string): Promise<TopicRow> {
    return this.cached(`topic:${id}`, () => getScaffoldingRow<TopicRow>(this.db, 'training_topics', id));
  }

  template(id: string): Promise<PromptTemplateRow> {
    return this.cached(`template:${id}`, () => getScaffoldingRow<PromptTemplateRow>(this.db, 'prompt_templates', id));
  }

  selectedTemplate(arcKey: string, tier: Tier): Promise<PromptTemplateRow | undefined> {
    return this.cached(`select:${arcKey}:${tier}`, () => selectTemplate(this.db, arcKey, tier));
  }

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    if (hit && this.now() - hit.at < this.ttlMs) return hit.value as Promise<T>;
    const value = load();
    this.entries.set(key, { at: this.now(), value });
    // A failed read is not cached: the next item tries again.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }
}
