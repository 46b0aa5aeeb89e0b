import { describe, expect, it } from 'vitest';
import { parseConversation } from '../../../src/generation';

function good() {
  return {
    conversation_metadata: {
      client_persona: 'Marcus, anxious planner',
      session_context: 'first session',
      conversation_phase: 'opening',
    },
    turns: [
      { turn_number: 1, role: 'user', content: 'Hi', emotional_context: { primary_emotion: 'fear', intensity: 0.8 } },
      {
        turn_number: 2,
        role: 'assistant',
        content: 'Hello',
        emotional_context: { primary_emotion: 'calm', secondary_emotion: 'care', intensity: 0.3 },
      },
    ],
  };
}

describe('parseConversation', () => {
  it('accepts a valid conversation and returns it typed', () => {
    const result = parseConversation(good());
    expect(result).toEqual({ ok: true, value: good() });
  });

  it('accepts expected_outcome when present', () => {
    const raw = good();
    const result = parseConversation({ ...raw, conversation_metadata: { ...raw.conversation_metadata, expected_outcome: 'calmer' } });
    expect(result.ok).toBe(true);
  });

  it('names the path and the bad value of a wrong role', () => {
    const raw = good();
    raw.turns.push({ turn_number: 3, role: 'bot', content: 'x', emotional_context: { primary_emotion: 'x', intensity: 0.1 } });
    expect(parseConversation(raw)).toEqual({ ok: false, issues: "turns.2.role: expected 'user' | 'assistant', got 'bot'" });
  });

  it('lists every problem on one line', () => {
    const raw = good();
    const [first, second] = raw.turns;
    if (!first || !second) throw new Error('fixture needs two turns');
    first.turn_number = 0;
    second.emotional_context.intensity = 1.5;
    second.content = '   ';
    const metadata: Partial<typeof raw.conversation_metadata> = { ...raw.conversation_metadata };
    delete metadata.session_context;
    const result = parseConversation({ ...raw, conversation_metadata: metadata });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).not.toContain('\n');
    expect(result.issues).toContain('conversation_metadata.session_context: missing, expected string');
    expect(result.issues).toContain('turns.0.turn_number: expected at least 1, got 0');
    expect(result.issues).toContain('turns.1.emotional_context.intensity: expected at most 1, got 1.5');
    expect(result.issues).toContain("turns.1.content: expected non-empty text, got '   '");
  });

  it('rejects fewer than two turns and non-objects', () => {
    const one = good();
    one.turns.pop();
    expect(parseConversation(one)).toEqual({ ok: false, issues: 'turns: expected at least 2 items, got an array of 1' });
    expect(parseConversation('nope')).toEqual({ ok: false, issues: "(root): expected object, got 'nope'" });
  });
});
