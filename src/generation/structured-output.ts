import { z } from 'zod';
import type { EmotionalArcRow } from '../domain/rows';
import { CONVERSATION_LIMITS, GeneratedConversation, parseConversation } from './conversation';

/** The tool the Anthropic provider forces, whose input is the conversation. */
export const CONVERSATION_TOOL_NAME = 'record_conversation';

let schema: Record<string, unknown> | undefined;

/**
 * The JSON Schema of {@link GeneratedConversation} (from zod, so it cannot drift from the
 * validation), without the `$schema` key, which tool and response-format schemas do not need, and
 * with `minLength: 1` on a turn's `content`: the validator's non-empty check is a zod refinement
 * (text that is not all whitespace), which zod leaves out of the JSON Schema; `minLength: 1` is the
 * part of it a schema can say. Allows exactly what the validator allows, but whitespace-only text.
 */
export function conversationJsonSchema(): Record<string, unknown> {
  if (!schema) {
    const { $schema: _ignored, ...rest } = z.toJSONSchema(GeneratedConversation) as Record<string, unknown>;
    tighten(schemaAt(rest, TURN, 'content'), 'string', { minLength: 1 });
    schema = rest;
  }
  return schema;
}

/**
 * The bounds the schema sent for structured output ({@link sentConversationJsonSchema}) sets where
 * they are tighter than the validator's (`CONVERSATION_LIMITS`), so that a grammar built from the
 * schema (llama.cpp, vLLM, Ollama; OpenAI's strict mode) stops a small model that runs on: it must
 * close a string at its `maxLength` and the turns at `turns`, instead of looping until the token cap
 * cuts the answer off. Measured with SmolLM2-135M (README: Local model): the answers that did not
 * finish wrote 14-20+ turns, repeating one turn, with sentences for emotion names; with at most 16
 * turns and 40-character labels most of them end (forced) within the cap. Stricter than the
 * validator only where a valid conversation still fits comfortably: the seeded emotional arcs ask
 * for at most 14 turns (`grief_to_acceptance`, 6-14), so 16 leave room (an arc of your own that asks
 * for more gets its own bound, {@link sentTurnsFor}); a chat turn of 1,500 characters
 * is some 250 words, several paragraphs; an emotion or phase name ("cautious optimism", "problem
 * exploration") is a few words, 40 characters; the metadata's persona, context and outcome are a
 * sentence or two, 600. Conversations from providers asked without a grammar are still judged by the
 * validator's wider bounds only.
 */
export const SENT_SCHEMA_LIMITS = { label: 40, text: 600, content: 1_500, turns: 16 } as const;

/**
 * The values `emotional_context.intensity` may take in the schema sent: 0 to 1 in steps of 0.1.
 * The validator takes any number from 0 to 1, but llama.cpp turns `minimum`/`maximum` into grammar
 * for integers only (its `common/json-schema.cpp` reads no bounds of a `number`), so a bounded
 * number is not enforced there (answers measured with 5 and 100); an `enum` is, by every grammar.
 * One decimal is all the resolution a turn's intensity needs.
 */
export const SENT_INTENSITIES: readonly number[] = Array.from({ length: 11 }, (_, i) => i / 10);

/**
 * The most turns the schema sent allows a conversation of an arc: {@link SENT_SCHEMA_LIMITS}`.turns`, or, for an
 * arc that asks for more (`typical_turn_count_max`, or its min where the row has them the wrong way round), that
 * many and two more, up to the validator's bound: a grammar must never cut an arc's conversations shorter than
 * it asks. Every seeded arc gets the default, so their requests (and their prompt-cache prefixes) are the same.
 *
 * @example sentTurnsFor({ typical_turn_count_min: 20, typical_turn_count_max: 30 }) // 32
 */
export function sentTurnsFor(arc: Pick<EmotionalArcRow, 'typical_turn_count_min' | 'typical_turn_count_max'> | undefined): number {
  const asked = arc ? Math.floor(Math.max(arc.typical_turn_count_min, arc.typical_turn_count_max)) : 0;
  return Math.min(CONVERSATION_LIMITS.turns, Math.max(SENT_SCHEMA_LIMITS.turns, asked + 2));
}

/** `build` once per number of turns: the schemas and the instructions are the same for every request of that bound. */
function byTurns<T>(build: (turns: number) => T): (turns?: number) => T {
  const built = new Map<number, T>();
  return (turns = SENT_SCHEMA_LIMITS.turns) => {
    let out = built.get(turns);
    if (out === undefined) {
      out = build(turns);
      built.set(turns, out);
    }
    return out;
  };
}

/**
 * The schema structured output is asked with: {@link conversationJsonSchema} with every constraint
 * of the validator a grammar can enforce, and tighter bounds where those still fit a valid
 * conversation comfortably ({@link SENT_SCHEMA_LIMITS}, {@link SENT_INTENSITIES}). Only ever
 * stricter than the validator, so whatever a grammar lets through the validator accepts
 * (a whitespace-only `content` aside, see {@link conversationJsonSchema}). `turns`: the most turns
 * allowed ({@link sentTurnsFor} the item's arc; default {@link SENT_SCHEMA_LIMITS}`.turns`).
 */
export const sentConversationJsonSchema = byTurns((turns): Record<string, unknown> => {
  const out = structuredClone(conversationJsonSchema());
  const L = SENT_SCHEMA_LIMITS;
  const meta = ['properties', 'conversation_metadata', 'properties'];
  for (const key of ['client_persona', 'session_context', 'expected_outcome'])
    tighten(schemaAt(out, meta, key), 'string', { maxLength: L.text });
  tighten(schemaAt(out, meta, 'conversation_phase'), 'string', { maxLength: L.label });
  tighten(schemaAt(out, ['properties'], 'turns'), 'array', { maxItems: turns });
  tighten(schemaAt(out, TURN, 'turn_number'), 'integer', { maximum: turns });
  tighten(schemaAt(out, TURN, 'content'), 'string', { maxLength: L.content });
  const emotion = [...TURN, 'emotional_context', 'properties'];
  for (const key of ['primary_emotion', 'secondary_emotion']) tighten(schemaAt(out, emotion, key), 'string', { maxLength: L.label });
  const intensity = schemaAt(out, emotion, 'intensity');
  if (intensity.type !== 'number' || SENT_INTENSITIES.some((v) => v < (intensity.minimum as number) || v > (intensity.maximum as number)))
    throw new Error(`the intensity schema changed: ${JSON.stringify(intensity)}`);
  for (const key of Object.keys(intensity)) delete intensity[key];
  Object.assign(intensity, { type: 'number', enum: [...SENT_INTENSITIES] });
  return out;
});

/** The path from the conversation schema's root to a turn's properties. */
const TURN = ['properties', 'turns', 'items', 'properties'];

/** The schema node at `path` + `key` (throws when the zod schema no longer has it there). */
function schemaAt(root: Record<string, unknown>, path: readonly string[], key: string): Record<string, unknown> {
  let node: unknown = root;
  for (const step of [...path, key]) node = (node as Record<string, unknown> | undefined)?.[step];
  if (!node || typeof node !== 'object') throw new Error(`the conversation schema has no ${[...path, key].join('.')}`);
  return node as Record<string, unknown>;
}

/** Sets each bound on `node` (of JSON Schema `type`) where it is tighter than the one there: a lower maximum, a higher minimum. */
function tighten(node: Record<string, unknown>, type: string, bounds: Record<string, number>): void {
  if (node.type !== type) throw new Error(`expected a ${type} schema, got ${JSON.stringify(node)}`);
  for (const [key, value] of Object.entries(bounds)) {
    const current = node[key] as number | undefined;
    const tighter = key.startsWith('max') ? Math.min(value, current ?? Infinity) : Math.max(value, current ?? -Infinity);
    node[key] = tighter;
  }
}

/**
 * {@link sentConversationJsonSchema} in the form strict structured output takes it (OpenAI's
 * `response_format: json_schema` with `strict: true`; vLLM, llama.cpp and Ollama accept it too):
 * every object lists all its properties as required and allows no others, and an optional property
 * may be null instead (read back as left out, see {@link checkConversation}).
 */
export const strictConversationJsonSchema = byTurns((turns) => toStrict(sentConversationJsonSchema(turns)) as Record<string, unknown>);

function toStrict(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStrict);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = toStrict(value);
  if (out.type === 'object' && out.properties && typeof out.properties === 'object') {
    const properties = out.properties as Record<string, unknown>;
    const required = new Set((out.required as string[] | undefined) ?? []);
    for (const key of Object.keys(properties)) if (!required.has(key)) properties[key] = { anyOf: [properties[key], { type: 'null' }] };
    out.required = Object.keys(properties);
    out.additionalProperties = false;
  }
  return out;
}

/** Object fields whose value is null are dropped, at any depth (strict output sends null for a field it leaves out). */
function withoutNullFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullFields);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNullFields(v)]),
  );
}

/**
 * The system message that tells a chat model to answer with the conversation as bare JSON (for
 * providers whose structured output is `response_format: json_object`, which only promises JSON), with the
 * schema sent for conversations of at most `turns` turns (built once per bound: it leads every request).
 */
export const jsonShapeInstructions = byTurns((turns): string => {
  const L = SENT_SCHEMA_LIMITS;
  return [
    'You write training conversations. Answer with one JSON object and nothing else: no prose, no Markdown fences.',
    // Whitespace between JSON tokens is the one length a schema cannot bound (llama.cpp's grammar allows up to two line
    // breaks and 20 spaces at every comma): SmolLM2's answers that still ran to the token cap were mostly indentation.
    'Write the JSON compactly, on one line: no line breaks, no indentation.',
    'The object must have exactly this shape:',
    '{"conversation_metadata": {"client_persona": string, "session_context": string, "conversation_phase": string, "expected_outcome"?: string},',
    ` "turns": [{"turn_number": integer from 1, "role": "user" | "assistant", "content": non-empty string of at most ${L.content} characters,`,
    `            "emotional_context": {"primary_emotion": string, "secondary_emotion"?: string, "intensity": one of ${SENT_INTENSITIES.join(', ')}}}, ...2 to ${turns} turns]}`,
    `As JSON Schema: ${JSON.stringify(sentConversationJsonSchema(turns))}`,
  ].join('\n');
});

/** The outcome of {@link readConversationText} and {@link checkConversation}. */
export type OutputCheck =
  { ok: true; value: GeneratedConversation } | { ok: false; failureType: 'parse_error' | 'validation_error'; issues: string };

/** A Markdown code fence around the whole answer, which chat models add despite being told not to. */
const FENCED = /^```[a-zA-Z]*\s*\n([\s\S]*?)\n?```$/;

/**
 * Parses model text as JSON (tolerating a Markdown fence around it) and validates it.
 *
 * @example readConversationText('{"turns": 3}') // { ok: false, failureType: 'validation_error', issues: 'conversation_metadata: missing, ...' }
 */
export function readConversationText(text: string): OutputCheck {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, failureType: 'parse_error', issues: '(root): the model returned no text' };
  const body = FENCED.exec(trimmed)?.[1] ?? trimmed;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return {
      ok: false,
      failureType: 'parse_error',
      issues: `(root): not valid JSON (${err instanceof Error ? err.message : String(err)})`,
    };
  }
  return checkConversation(value);
}

/** Validates already-parsed output against {@link GeneratedConversation} (a null optional field counts as left out). */
export function checkConversation(value: unknown): OutputCheck {
  const parsed = parseConversation(withoutNullFields(value));
  return parsed.ok ? parsed : { ok: false, failureType: 'validation_error', issues: parsed.issues };
}
