import { z } from 'zod';

/**
 * What a user writes for each kind of scaffolding: the API's POST bodies (PATCH takes some of the
 * fields) and one row of an import file. camelCase; `src/scaffolding/write.ts` maps them to columns.
 */

const naturalKey = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what} must not be empty`)
    .max(200, `${what} is at most 200 characters`)
    .describe(`${what}: unique, the natural key import and export match rows by`);
const label = z.string().trim().min(1, 'must not be empty').max(500);
const optionalText = z.string().max(10_000).nullable().optional();
const isActive = z.boolean().optional().describe('false retires the row: it cannot be picked for new batches');

/** Request bodies of `POST /v1/personas` (all fields) and `PATCH /v1/personas/:id` (some). */
export const PersonaWrite = z.strictObject({
  personaKey: naturalKey('personaKey'),
  name: label,
  archetype: label,
  description: optionalText,
  communicationStyle: optionalText,
  demographics: z.record(z.string(), z.unknown()).optional(),
  isActive,
});

export const EmotionalArcWrite = z.strictObject({
  arcKey: naturalKey('arcKey'),
  name: label,
  description: optionalText,
  startingEmotion: label,
  endingEmotion: label,
  typicalTurnCountMin: z.int().min(2, 'at least 2'),
  typicalTurnCountMax: z.int().min(2, 'at least 2'),
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
  templateText: z.string().min(1, 'must not be empty').max(100_000),
  tier: z.string().optional().describe('one of template, scenario, edge_case; template when absent'),
  emotionalArcType: z.string().trim().min(1).nullable().optional().describe('the arcKey this template is written for'),
  rating: z.number().min(0).max(99.99).optional(),
  description: optionalText,
  isActive,
});
