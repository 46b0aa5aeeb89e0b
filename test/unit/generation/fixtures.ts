import type { EmotionalArcRow, PersonaRow, TopicRow } from '../../../src/domain/rows';
import type { GenerationRequest } from '../../../src/generation';

export const persona: PersonaRow = {
  id: '11111111-1111-4111-8111-111111111111',
  persona_key: 'anxious_planner',
  name: 'Marcus Chen',
  archetype: 'Anxious Planner',
  description: 'A 34-year-old engineer who over-researches every money decision',
  communication_style: 'detailed, asks many follow-up questions',
};

export const arc: EmotionalArcRow = {
  id: '22222222-2222-4222-8222-222222222222',
  arc_key: 'fear_to_confidence',
  name: 'Fear to Confidence',
  starting_emotion: 'fear',
  ending_emotion: 'confidence',
  typical_turn_count_min: 4,
  typical_turn_count_max: 9,
};

export const topic: TopicRow = {
  id: '33333333-3333-4333-8333-333333333333',
  topic_key: 'emergency_fund',
  name: 'building an emergency fund',
  category: 'savings',
  description: 'How much to keep aside and where',
};

/** One item's first attempt at `prompt` with the fixtures above. */
export function generationRequest(prompt: string, signal: AbortSignal = new AbortController().signal): GenerationRequest {
  return { itemId: 'item-1', prompt, persona, arc, topic, tier: 'template', attempt: 1, signal };
}

/** The rejection of `promise`, which must reject. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the promise to reject');
}
