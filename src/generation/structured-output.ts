import { z } from 'zod';
import { GeneratedConversation, parseConversation } from './conversation';

/** The tool the Anthropic provider forces, whose input is the conversation. */
export const CONVERSATION_TOOL_NAME = 'record_conversation';

let schema: Record<string, unknown> | undefined;

/**
 * The JSON Schema of {@link GeneratedConversation} (from zod, so it cannot drift from the
 * validation), without the `$schema` key, which tool and response-format schemas do not need.
 */
export function conversationJsonSchema(): Record<string, unknown> {
  if (!schema) {
    const { $schema: _ignored, ...rest } = z.toJSONSchema(GeneratedConversation) as Record<string, unknown>;
    schema = rest;
  }
  return schema;
}

let strict: Record<string, unknown> | undefined;

/**
 * {@link conversationJsonSchema} in the form strict structured output takes it (OpenAI's
 * `response_format: json_schema` with `strict: true`; vLLM, llama.cpp and Ollama accept it too):
 * every object lists all its properties as required and allows no others, and an optional property
 * may be null instead (read back as left out, see {@link checkConversation}).
 */
export function strictConversationJsonSchema(): Record<string, unknown> {
  strict ??= toStrict(conversationJsonSchema()) as Record<string, unknown>;
  return strict;
}

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
 * providers whose structured output is `response_format: json_object`, which only promises JSON).
 */
export function jsonShapeInstructions(): string {
  return [
    'You write training conversations. Answer with one JSON object and nothing else: no prose, no Markdown fences.',
    'The object must have exactly this shape:',
    '{"conversation_metadata": {"client_persona": string, "session_context": string, "conversation_phase": string, "expected_outcome"?: string},',
    ' "turns": [{"turn_number": integer from 1, "role": "user" | "assistant", "content": non-empty string,',
    '            "emotional_context": {"primary_emotion": string, "secondary_emotion"?: string, "intensity": number from 0 to 1}}, ...at least 2 turns]}',
    `As JSON Schema: ${JSON.stringify(conversationJsonSchema())}`,
  ].join('\n');
}

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
