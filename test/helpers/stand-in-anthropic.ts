import { randomUUID } from 'node:crypto';
import { createStandInPromptCache, type StandInPromptCache } from './stand-in-prompt-cache';
import { standInConversation, type Responder, type ScriptedResponse } from './stand-in-server';

export { startStandInServer, standInConversation, type RecordedRequest, type StandInServer } from './stand-in-server';

/**
 * Responses in the Anthropic Messages API wire format (`POST /v1/messages`), for the stand-in
 * server. Only the shape: no model runs behind it.
 */

/** Token usage and stop reason of a scripted message. */
export interface MessageMeta {
  /** The model the response names (default 'claude-sonnet-5-5'). */
  model?: string;
  inputTokens?: number;
  outputTokens?: number;
  /** Default 'tool_use' for tool input, 'end_turn' for text. */
  stopReason?: string;
}

function message(content: unknown[], meta: MessageMeta, defaultStop: string): ScriptedResponse {
  return {
    status: 200,
    headers: { 'request-id': `req_${randomUUID()}` },
    body: {
      id: `msg_${randomUUID().replace(/-/g, '')}`,
      type: 'message',
      role: 'assistant',
      model: meta.model ?? 'claude-sonnet-5-5',
      content,
      stop_reason: meta.stopReason ?? defaultStop,
      stop_sequence: null,
      usage: {
        input_tokens: meta.inputTokens ?? 800,
        output_tokens: meta.outputTokens ?? 1200,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      },
    },
  };
}

/** A message whose only block is the `record_conversation` tool call with `input`. */
export function toolUseMessage(input: unknown, meta: MessageMeta = {}): ScriptedResponse {
  return message(
    [{ type: 'tool_use', id: `toolu_${randomUUID().replace(/-/g, '')}`, name: 'record_conversation', input }],
    meta,
    'tool_use',
  );
}

/** A message with a text block only (a model or server that did not call the tool). */
export function textMessage(text: string, meta: MessageMeta = {}): ScriptedResponse {
  return message([{ type: 'text', text }], meta, 'end_turn');
}

/** An API error as Anthropic sends it: `{ type: 'error', error: { type, message } }`. */
export function anthropicError(status: number, type: string, text: string, headers: Record<string, string> = {}): ScriptedResponse {
  return {
    status,
    headers: { 'request-id': `req_${randomUUID()}`, ...headers },
    body: { type: 'error', error: { type, message: text }, request_id: `req_${randomUUID()}` },
  };
}

/**
 * A responder for the stand-in server's `otherwise` that answers every `POST /v1/messages` with a
 * `record_conversation` tool call whose usage comes from the STAND-IN prompt cache
 * (`./stand-in-prompt-cache.ts`): the first request with a cached prefix at least the minimum long
 * writes it, later ones within the TTL read it, `input_tokens` is the uncached rest.
 *
 * @example const responder = cachingResponder(); standIn.otherwise(responder); ... responder.cache.entries.size
 */
export function cachingResponder(
  options: { cache?: StandInPromptCache; outputTokens?: number; conversation?: unknown } = {},
): Responder & { cache: StandInPromptCache } {
  const cache = options.cache ?? createStandInPromptCache();
  const responder: Responder = (req) => {
    if (req.method !== 'POST' || !req.path.startsWith('/v1/messages')) {
      return anthropicError(404, 'not_found_error', `stand-in: no route ${req.method} ${req.path}`);
    }
    const params = (req.body ?? {}) as { model?: string };
    const usage = cache.anthropic(params);
    const reply = toolUseMessage(options.conversation ?? standInConversation(4), { ...(params.model ? { model: params.model } : {}) });
    const body = reply.body as { usage: Record<string, number> };
    body.usage = { ...usage, output_tokens: options.outputTokens ?? 1200 };
    return reply;
  };
  return Object.assign(responder, { cache });
}

/**
 * The whole prompt of a Messages API request body: its first message's content, a string or (with
 * the prompt cache's breakpoint after the template head) text blocks joined. For stand-ins that
 * answer by what the prompt says.
 */
export function promptOf(body: unknown): string {
  const content = (body as { messages?: Array<{ content?: unknown }> } | undefined)?.messages?.[0]?.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((block) => ((block as { text?: unknown }).text as string | undefined) ?? '').join('');
}
