import type { Tier } from '../domain/enums';
import type { EmotionalArcRow, PersonaRow, TopicRow } from '../domain/rows';
import { BulkgenError } from '../errors';

/** A value a placeholder can take; `undefined`, `null` and `''` count as "no value". */
export type TemplateValue = string | number | undefined | null;

/**
 * A template needed a value that was not supplied (`TEMPLATE_MISSING_PLACEHOLDER`). Nothing is
 * rendered when this is thrown, so a prompt with an unresolved `{{placeholder}}` never reaches a model.
 */
export class MissingPlaceholderError extends BulkgenError {
  override readonly name = 'MissingPlaceholderError';
  /** Placeholder names without braces, in order of first appearance. */
  readonly placeholders: string[];
  readonly templateName?: string;

  constructor(placeholders: string[], templateName?: string) {
    const subject = templateName === undefined ? 'template' : `template '${templateName}'`;
    const detail = `${subject} has no value for ${placeholders.map((name) => `{{${name}}}`).join(', ')}`;
    super('TEMPLATE_MISSING_PLACEHOLDER', { detail });
    this.placeholders = placeholders;
    if (templateName !== undefined) this.templateName = templateName;
  }
}

/** `{{ name }}` with optional whitespace inside the braces. */
const PLACEHOLDER = /\{\{\s*([a-zA-Z0-9_.]+)\s*\}\}/g;

/**
 * The placeholder names a template uses, each once, in order of first appearance.
 *
 * @example placeholdersOf('Hi {{ name }}, {{name}} of {{topic.name}}') // ['name', 'topic.name']
 */
export function placeholdersOf(templateText: string): string[] {
  const names = new Set<string>();
  for (const match of templateText.matchAll(PLACEHOLDER)) {
    if (match[1] !== undefined) names.add(match[1]);
  }
  return [...names];
}

/**
 * Replaces every `{{ name }}` in `templateText` with `vars[name]` (dotted names are plain keys:
 * `{{topic.name}}` reads `vars['topic.name']`). Values are inserted verbatim and not rendered again.
 *
 * @throws MissingPlaceholderError naming every placeholder without a value; nothing is rendered.
 * @example renderTemplate('Talk about {{ topic_name }}', { topic_name: 'budgeting' }) // 'Talk about budgeting'
 */
export function renderTemplate(
  templateText: string,
  vars: Readonly<Record<string, TemplateValue>>,
  options: { templateName?: string } = {},
): string {
  const missing = placeholdersOf(templateText).filter((name) => valueOf(vars, name) === undefined);
  if (missing.length > 0) throw new MissingPlaceholderError(missing, options.templateName);
  return templateText.replace(PLACEHOLDER, (_match, name: string) => valueOf(vars, name) ?? '');
}

function valueOf(vars: Readonly<Record<string, TemplateValue>>, name: string): string | undefined {
  // Object.hasOwn keeps inherited names such as {{constructor}} from resolving to a function.
  if (!Object.hasOwn(vars, name)) return undefined;
  const value = vars[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  return value;
}

/** The scaffolding rows an item renders its prompt from. */
export interface TemplateContext {
  persona: PersonaRow;
  arc: EmotionalArcRow;
  topic: TopicRow;
  tier: Tier;
  /** Merged last, so it can add variables or override the ones derived from the rows. */
  extra?: Readonly<Record<string, string>>;
}

/**
 * Maps scaffolding rows to the variable names the seeded templates use
 * (`persona_name`, `emotional_arc_name`, `topic_name`, `turn_count_min`, `tier`, ...).
 * Nullable columns stay `null`, so a template that needs one fails with the name of it.
 */
export function buildTemplateVariables(ctx: TemplateContext): Record<string, TemplateValue> {
  const { persona, arc, topic, tier } = ctx;
  return {
    persona_name: persona.name,
    persona_archetype: persona.archetype,
    persona_description: persona.description,
    persona_communication_style: persona.communication_style,
    emotional_arc_name: arc.name,
    starting_emotion: arc.starting_emotion,
    ending_emotion: arc.ending_emotion,
    turn_count_min: arc.typical_turn_count_min,
    turn_count_max: arc.typical_turn_count_max,
    topic_name: topic.name,
    topic_category: topic.category,
    topic_description: topic.description,
    tier,
    ...ctx.extra,
  };
}

/**
 * The static head of `rendered` that every item of the template shares, for the prompt cache: the
 * template text before its first `{{placeholder}}`, cut back to just after its last whitespace (a
 * value glued to the word before it, `about{{topic}}`, would otherwise change the tokens of that
 * word), and only when `rendered` does start with it. '' when the template starts with a
 * placeholder, has no whitespace before its first one, or `rendered` is not its rendering. A
 * template without placeholders is static as a whole; its last word is still left out, so the rest
 * of the prompt (the user message) is never empty.
 *
 * @example cacheablePrefix('You are a coach. Talk about {{topic_name}} now.', 'You are a coach. Talk about savings now.') // 'You are a coach. Talk about '
 * @example cacheablePrefix('{{persona_name}} asks...', 'Marcus asks...') // ''
 */
export function cacheablePrefix(templateText: string, rendered: string): string {
  const first = templateText.search(new RegExp(PLACEHOLDER.source));
  const head = first === -1 ? templateText : templateText.slice(0, first);
  const lastSpace = Math.max(...[' ', '\n', '\t', '\r'].map((space) => head.lastIndexOf(space)));
  if (lastSpace < 0) return '';
  const prefix = head.slice(0, lastSpace + 1);
  return rendered.startsWith(prefix) && rendered.length > prefix.length ? prefix : '';
}
