import { z } from 'zod';
import { ROLES } from '../domain/enums';
import { MAX_CONVERSATION_TURNS } from '../domain/limits';

/**
 * Bounds on every string and list: a model given the schema as a grammar (llama.cpp, vLLM) cannot run
 * a string on until its token limit cuts the answer off, and a runaway answer fails validation.
 */
export const CONVERSATION_LIMITS = { label: 200, text: 2_000, content: 8_000, turns: MAX_CONVERSATION_TURNS } as const;

/** The emotional state attached to one turn. `intensity` runs from 0 (faint) to 1 (overwhelming). */
export const EmotionalContext = z.object({
  primary_emotion: z.string().min(1).max(CONVERSATION_LIMITS.label),
  secondary_emotion: z.string().min(1).max(CONVERSATION_LIMITS.label).optional(),
  intensity: z.number().min(0).max(1),
});

/** One message of a conversation; `turn_number` counts from 1. */
export const ConversationTurn = z.object({
  turn_number: z.number().int().min(1).max(CONVERSATION_LIMITS.turns),
  role: z.enum(ROLES),
  content: z
    .string()
    .max(CONVERSATION_LIMITS.content)
    .refine((text) => text.trim() !== '', 'expected non-empty text'),
  emotional_context: EmotionalContext,
});
export type ConversationTurn = z.infer<typeof ConversationTurn>;

/** What the conversation is about and where it is meant to go. */
export const ConversationMetadata = z.object({
  client_persona: z.string().max(CONVERSATION_LIMITS.text),
  session_context: z.string().max(CONVERSATION_LIMITS.text),
  conversation_phase: z.string().max(CONVERSATION_LIMITS.label),
  expected_outcome: z.string().max(CONVERSATION_LIMITS.text).optional(),
});

/**
 * A generated conversation as stored in `conversations.conversation`. Every provider's output
 * must pass this schema before it is persisted.
 */
export const GeneratedConversation = z.object({
  conversation_metadata: ConversationMetadata,
  turns: z.array(ConversationTurn).min(2).max(CONVERSATION_LIMITS.turns),
});
export type GeneratedConversation = z.infer<typeof GeneratedConversation>;
/** Alias of the {@link GeneratedConversation} type, for call sites that also import the schema. */
export type GeneratedConversationType = GeneratedConversation;

/** The outcome of {@link parseConversation}. */
export type ParseConversationResult = { ok: true; value: GeneratedConversation } | { ok: false; issues: string };

/** Issues beyond this many are summarised as "(and N more)" to keep error_message readable. */
const MAX_REPORTED_ISSUES = 5;

/**
 * Validates raw model output (already JSON-parsed) against {@link GeneratedConversation}.
 *
 * @returns the typed conversation, or a one-line summary naming each bad path, e.g.
 *   `turns.2.role: expected 'user' | 'assistant', got 'bot'`.
 */
export function parseConversation(raw: unknown): ParseConversationResult {
  const result = GeneratedConversation.safeParse(raw, { reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: summariseIssues(result.error.issues) };
}

/**
 * Joins zod issues into one line, `path: problem; path: problem`.
 * Exported so providers can report JSON they could not even parse in the same style.
 */
export function summariseIssues(issues: readonly z.core.$ZodIssue[]): string {
  const shown = issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => `${formatPath(issue.path)}: ${describeIssue(issue)}`);
  const hidden = issues.length - shown.length;
  return hidden > 0 ? `${shown.join('; ')} (and ${hidden} more)` : shown.join('; ');
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(String).join('.');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const got = 'input' in issue ? `, got ${describeValue(issue.input)}` : '';
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `missing, expected ${issue.expected}` : `expected ${issue.expected}${got}`;
    case 'invalid_value':
      return `expected ${issue.values.map(describeValue).join(' | ')}${got}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `expected at least ${String(issue.minimum)} items${got}`
        : issue.origin === 'string'
          ? `expected non-empty text${got}`
          : `expected ${issue.inclusive === false ? 'more than' : 'at least'} ${String(issue.minimum)}${got}`;
    case 'too_big':
      return `expected ${issue.inclusive === false ? 'less than' : 'at most'} ${String(issue.maximum)}${got}`;
    default:
      return `${issue.message}${got}`;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}
