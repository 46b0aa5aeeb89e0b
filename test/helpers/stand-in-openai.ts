import { randomUUID } from 'node:crypto';
import type { ScriptedResponse } from './stand-in-server';

export { startStandInServer, standInConversation, type RecordedRequest, type StandInServer } from './stand-in-server';

/**
 * Responses in the OpenAI chat completions wire format (`POST /v1/chat/completions`), for the
 * stand-in server. Only the shape: no model runs behind it.
 */

/** Token usage and finish reason of a scripted completion. */
export interface CompletionMeta {
  /** The model the response names (default 'gpt-4o-mini'). */
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** `usage.prompt_tokens_details.cached_tokens` (part of `promptTokens`, as OpenAI counts); default 0. */
  cachedTokens?: number;
  /** Default 'stop'. */
  finishReason?: string;
}

/** A chat completion whose one choice says `content`. */
export function chatCompletion(content: string, meta: CompletionMeta = {}): ScriptedResponse {
  const promptTokens = meta.promptTokens ?? 700;
  const completionTokens = meta.completionTokens ?? 1100;
  return {
    status: 200,
    headers: { 'x-request-id': `req_${randomUUID()}` },
    body: {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: meta.model ?? 'gpt-4o-mini',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content, refusal: null },
          logprobs: null,
          finish_reason: meta.finishReason ?? 'stop',
        },
      ],
      usage: {
        prompt_tokens: promptTokens,
        completion_tokens: completionTokens,
        total_tokens: promptTokens + completionTokens,
        prompt_tokens_details: { cached_tokens: meta.cachedTokens ?? 0 },
      },
    },
  };
}

/** An API error as OpenAI sends it: `{ error: { message, type, param, code } }`. */
export function openaiError(status: number, type: string, text: string, headers: Record<string, string> = {}): ScriptedResponse {
  return {
    status,
    headers: { 'x-request-id': `req_${randomUUID()}`, ...headers },
    body: { error: { message: text, type, param: null, code: null } },
  };
}
