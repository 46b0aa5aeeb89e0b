import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { createGenerator } from '../../../src/generation/factory';
import { CONVERSATION_LIMITS } from '../../../src/generation/conversation';
import { mulberry32, pick, type Random } from '../../../src/generation/prng';
import {
  checkConversation,
  conversationJsonSchema,
  jsonShapeInstructions,
  readConversationText,
  SENT_INTENSITIES,
  SENT_SCHEMA_LIMITS,
  sentConversationJsonSchema,
  sentTurnsFor,
  strictConversationJsonSchema,
} from '../../../src/generation/structured-output';
import { standInConversation } from '../../helpers/stand-in-server';

describe('structured output', () => {
  it('the tool schema is the JSON Schema of GeneratedConversation, without $schema', () => {
    const schema = conversationJsonSchema();
    expect(schema).not.toHaveProperty('$schema');
    expect(schema).toMatchObject({ type: 'object', required: ['conversation_metadata', 'turns'] });
    expect(schema).toHaveProperty('properties.turns.minItems', 2);
    expect(schema).toHaveProperty('properties.turns.items.properties.role.enum', ['user', 'assistant']);
    // The validator's bounds, and the part of its non-empty refinement a schema can say.
    expect(schema).toHaveProperty('properties.turns.items.properties.content', { type: 'string', maxLength: 8000, minLength: 1 });
    expect(schema).toHaveProperty('properties.turns.items.properties.emotional_context.properties.intensity', {
      type: 'number',
      minimum: 0,
      maximum: 1,
    });
  });

  it('the schema sent for structured output: every bound a grammar can enforce, tighter ones where a conversation fits', () => {
    expect(SENT_SCHEMA_LIMITS).toEqual({ label: 40, text: 600, content: 1500, turns: 16 });
    expect(SENT_INTENSITIES).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    const text = { type: 'string', maxLength: 600 };
    const label = { type: 'string', minLength: 1, maxLength: 40 };
    expect(sentConversationJsonSchema()).toEqual({
      type: 'object',
      properties: {
        conversation_metadata: {
          type: 'object',
          properties: {
            client_persona: text,
            session_context: text,
            conversation_phase: { type: 'string', maxLength: 40 },
            expected_outcome: text,
          },
          required: ['client_persona', 'session_context', 'conversation_phase'],
          additionalProperties: false,
        },
        turns: {
          type: 'array',
          minItems: 2,
          maxItems: 16,
          items: {
            type: 'object',
            properties: {
              turn_number: { type: 'integer', minimum: 1, maximum: 16 },
              role: { type: 'string', enum: ['user', 'assistant'] },
              content: { type: 'string', minLength: 1, maxLength: 1500 },
              emotional_context: {
                type: 'object',
                properties: {
                  primary_emotion: label,
                  secondary_emotion: label,
                  // An enum, not minimum/maximum: llama.cpp bounds integers only, not numbers.
                  intensity: { type: 'number', enum: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] },
                },
                required: ['primary_emotion', 'intensity'],
                additionalProperties: false,
              },
            },
            required: ['turn_number', 'role', 'content', 'emotional_context'],
            additionalProperties: false,
          },
        },
      },
      required: ['conversation_metadata', 'turns'],
      additionalProperties: false,
    });
    // The system message shows the model the schema its answer is held to.
    const instructions = jsonShapeInstructions();
    expect(instructions).toContain(JSON.stringify(sentConversationJsonSchema()));
    expect(instructions).toContain('"content": non-empty string of at most 1500 characters');
    expect(instructions).toContain('"intensity": one of 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}}, ...2 to 16 turns]}');
    expect(instructions).toContain('compactly, on one line');
    // Never looser than the validator.
    expect(SENT_SCHEMA_LIMITS.content).toBeLessThanOrEqual(CONVERSATION_LIMITS.content);
    expect(SENT_SCHEMA_LIMITS.turns).toBeLessThanOrEqual(CONVERSATION_LIMITS.turns);
    expect(SENT_SCHEMA_LIMITS.text).toBeLessThanOrEqual(CONVERSATION_LIMITS.text);
    expect(SENT_SCHEMA_LIMITS.label).toBeLessThanOrEqual(CONVERSATION_LIMITS.label);
  });

  it('bounds the turns by the arc: the default for arcs that ask for fewer, two more than an arc asks for beyond it, never past the validator', () => {
    const arc = (min: number, max: number) => ({ typical_turn_count_min: min, typical_turn_count_max: max });
    // Every seeded arc asks for at most 14: their requests are the same as before.
    expect(sentTurnsFor(arc(6, 14))).toBe(SENT_SCHEMA_LIMITS.turns);
    expect(sentTurnsFor(undefined)).toBe(SENT_SCHEMA_LIMITS.turns);
    expect(sentTurnsFor(arc(20, 30))).toBe(32);
    // A row with min and max the wrong way round asks for its larger count.
    expect(sentTurnsFor(arc(30, 20))).toBe(32);
    expect(sentTurnsFor(arc(90, 150))).toBe(CONVERSATION_LIMITS.turns);
    const wide = sentConversationJsonSchema(32);
    expect(wide).toHaveProperty('properties.turns.maxItems', 32);
    expect(wide).toHaveProperty('properties.turns.items.properties.turn_number.maximum', 32);
    // Everything else is the default schema's.
    const { turns: _t, ...rest } = (wide as { properties: Record<string, unknown> }).properties;
    const { turns: _d, ...restDefault } = (sentConversationJsonSchema() as { properties: Record<string, unknown> }).properties;
    expect(rest).toEqual(restDefault);
    expect(sentConversationJsonSchema()).toHaveProperty('properties.turns.maxItems', 16);
    expect(strictConversationJsonSchema(32)).toHaveProperty('properties.turns.maxItems', 32);
    expect(jsonShapeInstructions(32)).toContain(`...2 to 32 turns]}\nAs JSON Schema: ${JSON.stringify(wide)}`);
  });

  it('the strict form: every property required (optional ones nullable), no others, the same bounds', () => {
    const strict = strictConversationJsonSchema();
    const turn = 'properties.turns.items.properties';
    expect(strict).toHaveProperty('properties.conversation_metadata.required', [
      'client_persona',
      'session_context',
      'conversation_phase',
      'expected_outcome',
    ]);
    expect(strict).toHaveProperty('properties.conversation_metadata.properties.expected_outcome', {
      anyOf: [{ type: 'string', maxLength: 600 }, { type: 'null' }],
    });
    expect(strict).toHaveProperty(`${turn}.emotional_context.required`, ['primary_emotion', 'secondary_emotion', 'intensity']);
    expect(strict).toHaveProperty(`${turn}.emotional_context.properties.secondary_emotion`, {
      anyOf: [{ type: 'string', minLength: 1, maxLength: 40 }, { type: 'null' }],
    });
    expect(strict).toHaveProperty(`${turn}.emotional_context.properties.intensity.enum`, [...SENT_INTENSITIES]);
    expect(strict).toHaveProperty(`${turn}.content`, { type: 'string', minLength: 1, maxLength: 1500 });
    expect(strict).toHaveProperty('properties.turns.maxItems', 16);
    expect(strict).toHaveProperty(`${turn}.turn_number`, { type: 'integer', minimum: 1, maximum: 16 });
    for (const path of ['', 'properties.conversation_metadata.', 'properties.turns.items.', `${turn}.emotional_context.`])
      expect(strict).toHaveProperty(`${path}additionalProperties`, false);
  });

  it('what the sent schema allows, the validator accepts (but whitespace-only content); it refuses the answers measured from SmolLM2', () => {
    const random = mulberry32(16);
    let acceptedBoth = 0;
    let refusedBySchemaOnly = 0;
    for (let i = 0; i < 3000; i++) {
      const candidate = randomConversation(random);
      for (const schema of [sentConversationJsonSchema(), strictConversationJsonSchema()]) {
        const bySchema = schemaAccepts(schema, candidate);
        const byValidator = checkConversation(candidate).ok;
        if (bySchema) {
          expect(byValidator, JSON.stringify(candidate).slice(0, 300)).toBe(true);
          acceptedBoth++;
        } else if (byValidator) refusedBySchemaOnly++;
      }
    }
    // The sample reaches both sides of every bound.
    expect(acceptedBoth).toBeGreaterThan(1000);
    expect(refusedBySchemaOnly).toBeGreaterThan(300);

    const strict = strictConversationJsonSchema();
    const good = { ...standInConversation(4) } as { turns: Array<Record<string, unknown>> };
    expect(schemaAccepts(strict, nulled(good))).toBe(true);
    const withTurn = (change: Record<string, unknown>) =>
      nulled({ ...good, turns: [{ ...good.turns[0], ...change }, ...good.turns.slice(1)] });
    const emotion = (intensity: number) => ({ emotional_context: { primary_emotion: 'fear', intensity } });
    for (const intensity of [5, 100, -0.1, 0.55]) expect(schemaAccepts(strict, withTurn(emotion(intensity)))).toBe(false);
    expect(schemaAccepts(strict, withTurn({ content: '' }))).toBe(false);
    expect(schemaAccepts(strict, withTurn({ content: 'x'.repeat(1501) }))).toBe(false);
    expect(schemaAccepts(strict, withTurn({ turn_number: 17 }))).toBe(false);
    expect(schemaAccepts(strict, withTurn({ emotional_context: { primary_emotion: 'x'.repeat(41), intensity: 0.5 } }))).toBe(false);
    expect(schemaAccepts(strict, nulled({ ...good, turns: Array.from({ length: 17 }, () => good.turns[0]) }))).toBe(false);
    // The exception: a grammar cannot tell whitespace from text, so only the validator refuses this.
    expect(schemaAccepts(strict, withTurn({ content: ' ' }))).toBe(true);
    expect(checkConversation(withTurn({ content: ' ' })).ok).toBe(false);
  });

  it('reads JSON text, with or without a Markdown fence', () => {
    const text = JSON.stringify(standInConversation(2));
    expect(readConversationText(text)).toEqual({ ok: true, value: standInConversation(2) });
    expect(readConversationText('```json\n' + text + '\n```')).toMatchObject({ ok: true });
  });

  it('tells text that is not JSON (parse_error) from JSON of the wrong shape (validation_error)', () => {
    expect(readConversationText('')).toMatchObject({ ok: false, failureType: 'parse_error', issues: '(root): the model returned no text' });
    expect(readConversationText('{"turns": [')).toMatchObject({ ok: false, failureType: 'parse_error' });
    expect(readConversationText('{"turns": []}')).toMatchObject({ ok: false, failureType: 'validation_error' });
    expect(checkConversation({ ...standInConversation(2), turns: [] })).toMatchObject({
      ok: false,
      failureType: 'validation_error',
      issues: 'turns: expected at least 2 items, got an array of 0',
    });
  });
});

describe('createGenerator', () => {
  it('builds the provider GENERATOR names', () => {
    expect(createGenerator(loadConfig({})).name).toBe('offline');
    expect(createGenerator(loadConfig({ GENERATOR: 'anthropic', ANTHROPIC_API_KEY: 'k' })).name).toBe('anthropic');
    expect(createGenerator(loadConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' })).name).toBe('openai');
  });

  it('rejects a bad ANTHROPIC_MAX_TOKENS or ANTHROPIC_TEMPERATURE at start-up', () => {
    expect(() => loadConfig({ ANTHROPIC_MAX_TOKENS: '0' })).toThrow(/ANTHROPIC_MAX_TOKENS: expected 1 or more tokens/);
    expect(() => loadConfig({ ANTHROPIC_MAX_TOKENS: '64000' })).toThrow(/ANTHROPIC_MAX_TOKENS: expected at most 21333/);
    expect(() => loadConfig({ ANTHROPIC_TEMPERATURE: '1.5' })).toThrow(/ANTHROPIC_TEMPERATURE: expected a temperature from 0 to 1/);
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ ANTHROPIC_MAX_TOKENS: 4096, GENERATOR_MAX_INVALID_ATTEMPTS: 3 });
    expect(defaults.ANTHROPIC_TEMPERATURE).toBeUndefined();
  });
});

/** `value` with every optional field left out set to null, as strict structured output sends it. */
function nulled(value: unknown): Record<string, unknown> {
  const v = structuredClone(value) as {
    conversation_metadata: Record<string, unknown>;
    turns: Array<{ emotional_context: Record<string, unknown> }>;
  };
  v.conversation_metadata.expected_outcome ??= null;
  for (const t of v.turns) t.emotional_context.secondary_emotion ??= null;
  return v;
}

/**
 * A JSON Schema check of the keywords the conversation schemas use (type, properties, required,
 * additionalProperties, anyOf, enum, minLength/maxLength, minItems/maxItems, minimum/maximum, items),
 * as a grammar built from them enforces them. Throws on any other keyword, so the test cannot pass
 * over one it does not check.
 */
function schemaAccepts(schema: unknown, value: unknown): boolean {
  const s = schema as Record<string, unknown>;
  const known = ['type', 'properties', 'required', 'additionalProperties', 'anyOf', 'enum', 'items'];
  const bounds = ['minLength', 'maxLength', 'minItems', 'maxItems', 'minimum', 'maximum'];
  for (const key of Object.keys(s)) if (!known.includes(key) && !bounds.includes(key)) throw new Error(`unchecked keyword ${key}`);
  if (s.anyOf) return (s.anyOf as unknown[]).some((alt) => schemaAccepts(alt, value));
  if (s.enum && !(s.enum as unknown[]).includes(value)) return false;
  const n = (key: string) => s[key] as number | undefined;
  switch (s.type) {
    case 'null':
      return value === null;
    case 'string':
      return typeof value === 'string' && value.length >= (n('minLength') ?? 0) && value.length <= (n('maxLength') ?? Infinity);
    case 'integer':
    case 'number':
      return (
        typeof value === 'number' &&
        (s.type === 'number' || Number.isInteger(value)) &&
        value >= (n('minimum') ?? -Infinity) &&
        value <= (n('maximum') ?? Infinity)
      );
    case 'array':
      return (
        Array.isArray(value) &&
        value.length >= (n('minItems') ?? 0) &&
        value.length <= (n('maxItems') ?? Infinity) &&
        value.every((item) => schemaAccepts(s.items, item))
      );
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
      const properties = s.properties as Record<string, unknown>;
      const v = value as Record<string, unknown>;
      if (s.additionalProperties === false && Object.keys(v).some((k) => !(k in properties))) return false;
      if (((s.required as string[] | undefined) ?? []).some((k) => !(k in v))) return false;
      return Object.entries(v).every(([k, item]) => schemaAccepts(properties[k], item));
    }
    default:
      throw new Error(`unchecked type ${String(s.type)}`);
  }
}

/**
 * A conversation whose fields mostly fit both schemas, each one now and then on some edge: either side of
 * the sent schema's bound and of the validator's (one field at a time, mostly, so both outcomes are common).
 */
function randomConversation(random: Random): unknown {
  const L = SENT_SCHEMA_LIMITS;
  const V = CONVERSATION_LIMITS;
  const sometimes = <T>(usual: T, edges: readonly [T, ...T[]]): T => (random() < 0.97 ? usual : pick(random, edges));
  const text = (limit: number, validatorLimit: number, min = 0) =>
    'a'.repeat(
      sometimes(min + Math.floor(random() * (limit - min)), [
        min,
        Math.max(0, min - 1),
        limit,
        limit + 1,
        validatorLimit,
        validatorLimit + 1,
      ]),
    );
  const optional = <T>(value: T): T | null | undefined => pick(random, [value, value, null, undefined]);
  const turns = sometimes(2 + Math.floor(random() * 6), [1, L.turns, L.turns + 1, V.turns, V.turns + 1]);
  return {
    conversation_metadata: {
      client_persona: text(L.text, V.text),
      session_context: text(L.text, V.text),
      conversation_phase: text(L.label, V.label),
      expected_outcome: optional(text(L.text, V.text)),
    },
    turns: Array.from({ length: turns }, (_, i) => ({
      turn_number: sometimes(i + 1, [0, L.turns, L.turns + 1, V.turns, V.turns + 1, 1.5]),
      role: sometimes(pick(random, ['user', 'assistant']), ['bot']),
      content: text(L.content, V.content, 1),
      emotional_context: {
        primary_emotion: text(L.label, V.label, 1),
        secondary_emotion: optional(text(L.label, V.label, 1)),
        intensity: sometimes(pick(random, SENT_INTENSITIES as [number, ...number[]]), [0.55, 0.05, -0.1, 1.2, 5, 100]),
      },
    })),
  };
}
