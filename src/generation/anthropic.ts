import Anthropic, { AnthropicError, APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { AnthropicCacheTtl } from '../config';
import { createModelGenerator, sdkClientOptions, type ModelGeneratorOptions, type ModelOutput, type PromptInput } from './model-generator';
import { estimateTokens, minCacheableTokens } from './pricing';
import type { ConversationGenerator } from './provider';
import type { SdkErrors } from './sdk-errors';
import {
  checkConversation,
  CONVERSATION_TOOL_NAME,
  conversationJsonSchema,
  readConversationText,
  type OutputCheck,
} from './structured-output';

/** The provider name, as `GENERATOR` spells it and `conversations.generator` records it. */
export const ANTHROPIC_GENERATOR = 'anthropic';

/** The last Anthropic API version that accepts `temperature`. */
export const SAMPLING_API_VERSION = '2023-06-01';

/** Options of {@link createAnthropicGenerator} (from `ANTHROPIC_*`); `model` e.g. 'claude-sonnet-4-5'. */
export interface AnthropicGeneratorOptions extends ModelGeneratorOptions {
  /** Sent on every request; when absent the SDK reads `ANTHROPIC_API_KEY`. */
  apiKey?: string;
  /** e.g. a gateway or a local stand-in; when absent the SDK reads `ANTHROPIC_BASE_URL`. */
  baseURL?: string;
  maxTokens: number;
  /**
   * 0 to 1; unset by default. API version 2026-10-21, which this SDK sends, rejects every sampling
   * parameter, so a request with a temperature pins `anthropic-version: 2023-06-01`, the last
   * version that takes one. Models that dropped sampling parameters (Opus 4.7 and later,
   * generation 5) still answer 400 "temperature is deprecated for this model", which fails the item.
   */
  temperature?: number;
  /** `ANTHROPIC_CACHE_TTL`: the prompt cache's TTL, or 'off' (default '5m'). */
  cacheTtl?: AnthropicCacheTtl;
}

/** The Anthropic SDK's error classes, mapped to retry decisions by `sdkCallError` (shared with the batch client). */
export const ANTHROPIC_SDK_ERRORS: SdkErrors<APIError> = {
  base: AnthropicError,
  api: APIError,
  connection: APIConnectionError,
  userAbort: APIUserAbortError,
  apiMessage: (error) => error.apiMessage,
};

/** The request settings both the synchronous provider and the Message Batches client take. */
export interface AnthropicRequestOptions {
  model: string;
  maxTokens: number;
  temperature?: number;
  /** The prompt cache's TTL, or 'off' (default '5m'); see {@link anthropicRequestBuilder}. */
  cacheTtl?: AnthropicCacheTtl;
}

/** The tool whose input is the conversation; forced by `tool_choice`. */
export function conversationTool(): Anthropic.Tool {
  return {
    name: CONVERSATION_TOOL_NAME,
    description:
      'Records the complete training conversation you were asked to write. Put every turn in `turns`, numbered from 1, ' +
      'alternating roles as the request describes, each with its emotional context (intensity from 0 to 1).',
    input_schema: conversationJsonSchema() as Anthropic.Tool.InputSchema,
  };
}

/**
 * The Messages API params of one prompt, for `POST /v1/messages` and for a Message Batches line
 * (`params`): the conversation tool forced, `max_tokens`, the temperature when set, and the prompt
 * as the one user message. With the prompt cache on (`cacheTtl` '5m' or '1h') and a `cachePrefix`
 * (the template's static head, see `cacheablePrefix` in render.ts), that message's content is
 * two text blocks: the head, carrying the breakpoint `cache_control: { type: 'ephemeral', ttl }`,
 * then the rest of the prompt. The cached prefix is so `tools` (fixed) + the head block: the same
 * bytes for every item of a template (Anthropic caches in the order tools, system, messages).
 * No system block is added: the model reads exactly the prompt it read without caching, only
 * split in two blocks, so outputs do not shift. Without a head (or with `cacheTtl` 'off') the
 * request is what it was before caching, the prompt as a string: tools alone (about 350 tokens)
 * are below every model's cache minimum, so a breakpoint there could never be used.
 */
export function anthropicRequestBuilder(
  options: AnthropicRequestOptions,
): (input: PromptInput) => Anthropic.MessageCreateParamsNonStreaming {
  const { model, maxTokens, temperature, cacheTtl = '5m' } = options;
  const tool = conversationTool();
  const base = {
    model,
    max_tokens: maxTokens,
    tools: [tool],
    tool_choice: { type: 'tool', name: CONVERSATION_TOOL_NAME },
    // Not in this SDK's types (its API version has no sampling parameters); see `temperature`.
    ...(temperature === undefined ? {} : ({ temperature } as object)),
  } satisfies Omit<Anthropic.MessageCreateParamsNonStreaming, 'messages'>;
  const breakpoint: Anthropic.CacheControlEphemeral | undefined = cacheTtl === 'off' ? undefined : { type: 'ephemeral', ttl: cacheTtl };
  return ({ prompt, cachePrefix }) => {
    if (!breakpoint || !splitsPrompt(prompt, cachePrefix)) return { ...base, messages: [{ role: 'user', content: prompt }] };
    return {
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: cachePrefix, cache_control: breakpoint },
            { type: 'text', text: prompt.slice(cachePrefix.length) },
          ],
        },
      ],
    };
  };
}

/** True when `prefix` is a proper, non-empty head of `prompt` (the API rejects an empty text block). */
function splitsPrompt(prompt: string, prefix: string): boolean {
  return prefix !== '' && prompt.startsWith(prefix) && prompt.slice(prefix.length).trim() !== '';
}

/** Whether a template's cached prefix is long enough for the model to cache it. */
export interface CacheEstimate {
  /** The cached prefix (the tool, the template's head) by {@link estimateTokens}. */
  estimatedTokens: number;
  /** {@link minCacheableTokens} of the model. */
  minTokens: number;
  /** False: the prefix is too short, so no request of this template will write or read the cache. */
  cacheable: boolean;
}

/**
 * The size of the cached prefix {@link anthropicRequestBuilder} sends for `cachePrefix`, against
 * the model's minimum: to flag (log, show) a template whose requests cannot be cached. The
 * requests carry the breakpoint anyway (a short prefix is not an error, only not cached).
 */
export function anthropicCacheEstimate(model: string, cachePrefix: string): CacheEstimate {
  const estimatedTokens = estimateTokens(JSON.stringify(conversationTool()) + cachePrefix);
  const minTokens = minCacheableTokens(model);
  return { estimatedTokens, minTokens, cacheable: estimatedTokens >= minTokens };
}

/** The {@link TruncatedOutputError} advice for an Anthropic `stop_reason`, or undefined when the output is whole. */
export function anthropicTruncationHint(stopReason: string, maxTokens: number): string | undefined {
  if (stopReason === 'max_tokens') {
    return `the model used all ${maxTokens} output tokens; raise ANTHROPIC_MAX_TOKENS or ask for shorter conversations`;
  }
  if (stopReason === 'model_context_window_exceeded') return 'the prompt and output exceed the model context window; shorten the template';
  return undefined;
}

/** True when a 2xx body is a Messages API message (not, e.g., a gateway's page). */
export function isAnthropicMessage(body: object): boolean {
  return Array.isArray((body as Partial<Anthropic.Message>).content);
}

/**
 * The `anthropic` provider: one Messages API call per attempt, the rendered prompt in the user
 * message (with the prompt cache's breakpoint after the template's static head, see
 * {@link anthropicRequestBuilder}), and the conversation shape enforced by forcing the tool
 * `record_conversation`, whose input schema is {@link GeneratedConversation}'s JSON Schema. Errors,
 * retries and aborts are the scaffold's ({@link createModelGenerator}); the output is cut off (a
 * `TruncatedOutputError`) at `stop_reason: 'max_tokens'` or `'model_context_window_exceeded'`.
 */
export function createAnthropicGenerator(options: AnthropicGeneratorOptions): ConversationGenerator {
  const { model, maxTokens, temperature, cacheTtl = '5m' } = options;
  const client = new Anthropic({
    ...sdkClientOptions(options),
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
  });

  return createModelGenerator({
    name: ANTHROPIC_GENERATOR,
    model,
    prices: options.prices,
    sdkErrors: ANTHROPIC_SDK_ERRORS,
    buildRequest: anthropicRequestBuilder(options),
    ...(cacheTtl === 'off' ? {} : { cacheTtl }),
    send: (body, signal) =>
      client.messages.create(body, {
        signal,
        ...(temperature === undefined ? {} : { headers: { 'anthropic-version': SAMPLING_API_VERSION } }),
      }),
    responseName: 'a Messages API message',
    isResponse: isAnthropicMessage,
    readOutput: readMessage,
    truncationHint: (stopReason) => anthropicTruncationHint(stopReason, maxTokens),
  });
}

/** The model, usage, stop reason and conversation of a Messages API message. */
export function readMessage(message: Anthropic.Message): ModelOutput {
  const { raw, check } = readConversation(message.content);
  return {
    model: message.model,
    // Anthropic's input_tokens already leaves out the cache's writes and reads.
    inputTokens: message.usage?.input_tokens ?? 0,
    outputTokens: message.usage?.output_tokens ?? 0,
    cacheCreationInputTokens: message.usage?.cache_creation_input_tokens ?? 0,
    cacheReadInputTokens: message.usage?.cache_read_input_tokens ?? 0,
    stopReason: message.stop_reason ?? undefined,
    raw,
    check,
  };
}

/**
 * The conversation from the response: the `record_conversation` tool input (an object, or a JSON
 * string from some compatible servers), else the text blocks parsed as JSON (a server that ignored
 * `tool_choice`). `raw` is what the model said, as text, for `failed_generations`.
 */
function readConversation(content: readonly Anthropic.ContentBlock[]): { raw: string; check: OutputCheck } {
  const toolUse = content.find(
    (block): block is Anthropic.ToolUseBlock => block.type === 'tool_use' && block.name === CONVERSATION_TOOL_NAME,
  );
  if (toolUse) {
    if (typeof toolUse.input === 'string') return { raw: toolUse.input, check: readConversationText(toolUse.input) };
    return { raw: JSON.stringify(toolUse.input), check: checkConversation(toolUse.input) };
  }
  const text = content
    .filter((block): block is Anthropic.TextBlock => block.type === 'text')
    .map((block) => block.text)
    .join('');
  return { raw: text, check: readConversationText(text) };
}
