import { z } from 'zod';
import { MAX_CONVERSATION_TURNS } from '../domain/limits';
import { pgText } from '../domain/text';

/**
 * What a user writes for each kind of scaffolding: the API's POST bodies (PATCH takes some of the
 * fields) and one row of an import file. camelCase; `src/scaffolding/write.ts` maps them to columns.
 */

/** Every string reaches a Postgres text or jsonb column, which cannot hold a NUL: `pgText` refuses one with a 400 naming the field. */
const naturalKey = (what: string) =>
  pgText({ max: 200, notBlank: true }).describe(`${what}: unique, the natural key import and export match rows by`);
const label = pgText({ max: 500, notBlank: true });
const optionalText = pgText({ max: 10_000 }).nullable().optional();
const isActive = z.boolean().optional().describe('false retires the row: it cannot be picked for new batches');

/**
 * The most turns an arc may name: as many as a conversation may have (the validator's bound), so an arc never asks
 * for conversations that cannot validate (it was 200 over a validator of 100: such an arc failed every item).
 */
export const MAX_TURN_COUNT = MAX_CONVERSATION_TURNS;
const turnCount = z.int().min(2, 'at least 2').max(MAX_TURN_COUNT, `at most ${MAX_TURN_COUNT}`);

/**
 * A persona's demographics: a flat object of short facts the prompt shows as they are
 * (`{ "age_range": "25-34", "plan": "Team", "company_size": 60 }`). A value is a string, number,
 * boolean or null, or a list of those; nested objects are refused (a prompt reads a flat list).
 * Keys are checked by {@link demographicsKeyProblems}: OpenAPI 3.0 cannot describe keys, so a bad
 * key is a 422 (INVALID_DEMOGRAPHICS), not a schema error.
 */
const demographicScalar = z.union([pgText({ max: 1_000 }), z.number(), z.boolean(), z.null()]);
export const MAX_DEMOGRAPHICS = 50;
const Demographics = z
  .record(z.string(), z.union([demographicScalar, z.array(demographicScalar).max(MAX_DEMOGRAPHICS)]))
  .refine((d) => Object.keys(d).length <= MAX_DEMOGRAPHICS, `at most ${MAX_DEMOGRAPHICS} entries`)
  .meta({ maxProperties: MAX_DEMOGRAPHICS });

const DemographicsKey = pgText({ max: 100, notBlank: true });

/** What is wrong with the keys of a demographics object (Postgres jsonb cannot hold a NUL; a blank or long key reads badly in a prompt). */
export function demographicsKeyProblems(demographics: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(demographics).flatMap((key) => {
    const checked = DemographicsKey.safeParse(key);
    return checked.success ? [] : [`key ${JSON.stringify(key)}: ${checked.error.issues[0]!.message}`];
  });
}

/** Request bodies of `POST /v1/personas` (all fields) and `PATCH /v1/personas/:id` (some). */
export const PersonaWrite = z.strictObject({
  personaKey: naturalKey('personaKey'),
  name: label,
  archetype: label,
  description: optionalText,
  communicationStyle: optionalText,
  demographics: Demographics.optional(),
  isActive,
});

export const EmotionalArcWrite = z.strictObject({
  arcKey: naturalKey('arcKey'),
  name: label,
  description: optionalText,
  startingEmotion: label,
  endingEmotion: label,
  typicalTurnCountMin: turnCount,
  typicalTurnCountMax: turnCount.describe('at least typicalTurnCountMin (else 422 INVALID_TURN_RANGE)'),
  conversationCategory: z.enum(['core', 'edge'], { error: 'expected one of core, edge' }),
  isActive,
});

export const TopicWrite = z.strictObject({
  topicKey: naturalKey('topicKey'),
  name: label,
  category: label,
  description: optionalText,
  isActive,
});

/** `tier` is a string here so that an unknown one is answered by the template check (422 TEMPLATE_INVALID). */
export const TemplateWrite = z.strictObject({
  templateName: naturalKey('templateName'),
  templateText: pgText({ max: 100_000, notBlank: true, trim: false }),
  tier: pgText({ max: 50 }).optional().describe('one of template, scenario, edge_case; template when absent'),
  emotionalArcType: pgText({ max: 200, notBlank: true }).nullable().optional().describe('the arcKey this template is written for'),
  rating: z.number().min(0).max(99.99).optional(),
  description: optionalText,
  isActive,
});
