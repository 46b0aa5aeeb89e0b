import type { EmotionalArcRow, PersonaRow, TopicRow } from '../../../src/domain/rows';

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
