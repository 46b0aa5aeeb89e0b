import { TIERS } from '../domain/enums';
import { BulkgenError } from '../errors';
import { placeholdersOf } from './render';

/** One variable the renderer supplies to every template (`buildTemplateVariables`). */
export interface TemplateVariable {
  name: string;
  /** The table and column it is read from, or where else it comes from. */
  source: string;
  description: string;
}

/**
 * Every variable `buildTemplateVariables` supplies, in its order. A unit test holds the two equal, so a
 * template checked against this list renders (unless a nullable column is empty for the item).
 */
export const TEMPLATE_VARIABLES: readonly TemplateVariable[] = [
  { name: 'persona_name', source: 'personas.name', description: "the persona's display name" },
  { name: 'persona_archetype', source: 'personas.archetype', description: "the persona's archetype" },
  { name: 'persona_description', source: 'personas.description', description: 'who the persona is (nullable)' },
  { name: 'persona_communication_style', source: 'personas.communication_style', description: 'how the persona talks (nullable)' },
  { name: 'emotional_arc_name', source: 'emotional_arcs.name', description: "the arc's display name" },
  { name: 'starting_emotion', source: 'emotional_arcs.starting_emotion', description: 'the emotion the conversation starts in' },
  { name: 'ending_emotion', source: 'emotional_arcs.ending_emotion', description: 'the emotion it ends in' },
  { name: 'turn_count_min', source: 'emotional_arcs.typical_turn_count_min', description: 'fewest turns' },
  { name: 'turn_count_max', source: 'emotional_arcs.typical_turn_count_max', description: 'most turns' },
  { name: 'topic_name', source: 'training_topics.name', description: "the topic's display name" },
  { name: 'topic_category', source: 'training_topics.category', description: "the topic's category" },
  { name: 'topic_description', source: 'training_topics.description', description: 'what the topic covers (nullable)' },
  { name: 'tier', source: 'the item', description: 'the item tier: template, scenario or edge_case' },
];

const KNOWN = TEMPLATE_VARIABLES.map((v) => v.name);

/** What a template is checked on: its text, tier and the arc key it is written for. */
export interface TemplateDraft {
  templateText: string;
  tier: string;
  emotionalArcType?: string | null | undefined;
}

/** One thing wrong with a template, naming the field and the value. */
export interface TemplateProblem {
  field: 'templateText' | 'tier' | 'emotionalArcType';
  value: string;
  message: string;
  /** The closest known names (edit distance), when the value looks like a typo of one. */
  nearest?: string[];
}

/** Text between `{{` and `}}` that is not a placeholder the renderer reads (so it would reach the model). */
const BRACED = /\{\{([^{}]*)\}\}/g;
const NAME = /^\s*[a-zA-Z0-9_.]+\s*$/;

/**
 * Every problem of a template, none when it is fine: each `{{placeholder}}` must be a variable of
 * {@link TEMPLATE_VARIABLES} (an unknown one names the nearest known ones), text in double braces must be
 * a placeholder, the tier must be one of the tiers, and `emotionalArcType`, when set, an existing arc key.
 *
 * @example checkTemplate({ templateText: 'Hi {{persona_nam}}', tier: 'template' }, [])
 * // [{ field: 'templateText', value: 'persona_nam', message: "unknown placeholder {{persona_nam}} (did you mean persona_name?)", nearest: ['persona_name'] }]
 */
export function checkTemplate(draft: TemplateDraft, arcKeys: Iterable<string>): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  for (const match of draft.templateText.matchAll(BRACED)) {
    const inner = match[1] ?? '';
    if (!NAME.test(inner)) {
      problems.push({
        field: 'templateText',
        value: match[0],
        message: `${match[0]} is not a placeholder: a name is letters, digits, '_' and '.'`,
      });
    }
  }
  for (const name of placeholdersOf(draft.templateText)) {
    if (KNOWN.includes(name)) continue;
    const nearest = nearestNames(name, KNOWN);
    problems.push({ field: 'templateText', value: name, message: `unknown placeholder {{${name}}}${didYouMean(nearest)}`, nearest });
  }
  if (!(TIERS as readonly string[]).includes(draft.tier)) {
    const nearest = nearestNames(draft.tier, TIERS);
    problems.push({ field: 'tier', value: draft.tier, message: `unknown tier '${draft.tier}' (one of ${TIERS.join(', ')})`, nearest });
  }
  const arc = draft.emotionalArcType;
  if (arc !== undefined && arc !== null) {
    const keys = [...arcKeys];
    if (!keys.includes(arc)) {
      const nearest = nearestNames(arc, keys);
      problems.push({
        field: 'emotionalArcType',
        value: arc,
        message: `no emotional arc with arc_key '${arc}'${didYouMean(nearest)}`,
        nearest,
      });
    }
  }
  return problems;
}

/** The placeholders a template text uses: what `variables` is set to (never typed by hand). */
export function templateVariables(templateText: string): string[] {
  return placeholdersOf(templateText);
}

/** `TEMPLATE_INVALID` listing every problem (`details.problems`). */
export function templateInvalid(problems: TemplateProblem[], templateName?: string): BulkgenError {
  const subject = templateName === undefined ? 'template' : `template '${templateName}'`;
  const detail = problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return new BulkgenError('TEMPLATE_INVALID', { subject, detail }, { problems });
}

function didYouMean(nearest: string[]): string {
  return nearest.length === 0 ? '' : ` (did you mean ${nearest.join(', ')}?)`;
}

/**
 * Up to `max` candidates closest to `name` by edit distance, nearest first (ties by name), keeping
 * only those within a third of the longer name's length (at least 2) or that start with `name`, so
 * unrelated names are not offered.
 */
export function nearestNames(name: string, candidates: Iterable<string>, max = 3): string[] {
  const scored = [...new Set(candidates)]
    .map((c) => ({ c, d: editDistance(name.toLowerCase(), c.toLowerCase()) }))
    .filter(({ c, d }) => d <= Math.max(2, Math.ceil(Math.max(c.length, name.length) / 3)) || (name !== '' && c.startsWith(name)))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c));
  return scored.slice(0, max).map(({ c }) => c);
}

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
