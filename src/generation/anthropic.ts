import Anthropic, { AnthropicError, APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import { createModelGenerator, sdkClientOptions, type ModelGeneratorOptions, type ModelOutput } from './model-generator';
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
}

const ANTHROPIC_SDK_ERRORS: SdkErrors<APIError> = {
  base: AnthropicError,
  api: APIError,
  connection: APIConnectionError,
  userAbort: APIUserAbortError,
  apiMessage: (error) => error.apiMessage,
};

/**
 * The `anthropic` provider: one Messages API call per attempt, the rendered prompt as the user
 * message, and the conversation shape enforced by forcing the tool `record_conversation`, whose
 * input schema is {@link GeneratedConversation}'s JSON Schema. Errors, retries and aborts are the
 * scaffold's ({@link createModelGenerator}); the output is cut off (a `TruncatedOutputError`)
 * at `stop_reason: 'max_tokens'` or `'model_context_window_exceeded'`.
 */
export function createAnthropicGenerator(options: AnthropicGeneratorOptions): ConversationGenerator {
  const { model, maxTokens, temperature } = options;
  const client = new Anthropic({
    ...sdkClientOptions(options),
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
  });
  const tool: Anthropic.Tool = {
    name: CONVERSATION_TOOL_NAME,
    description:
      'Records the complete training conversation you were asked to write. Put every turn in `turns`, numbered from 1, ' +
      'alternating roles as the request describes, each with its emotional context (intensity from 0 to 1).',
    input_schema: conversationJsonSchema() as Anthropic.Tool.InputSchema,
  };

  return createModelGenerator({
    name: ANTHROPIC_GENERATOR,
    model,
    prices: options.prices,
    sdkErrors: ANTHROPIC_SDK_ERRORS,
    buildRequest: (prompt): Anthropic.MessageCreateParamsNonStreaming => ({
      model,
      max_tokens: maxTokens,
      messages: [{ role: 'user', content: prompt }],
      tools: [tool],
      tool_choice: { type: 'tool', name: CONVERSATION_TOOL_NAME },
      // Not in this SDK's types (its API version has no sampling parameters); see `temperature`.
      ...(temperature === undefined ? {} : ({ temperature } as object)),
    }),
    send: (body, signal) =>
      client.messages.create(body, {
        signal,
        ...(temperature === undefined ? {} : { headers: { 'anthropic-version': SAMPLING_API_VERSION } }),
      }),
    responseName: 'a Messages API message',
    isResponse: (body) => Array.isArray((body as Partial<Anthropic.Message>).content),
    readOutput: readMessage,
    truncationHint: (stopReason) => {
      if (stopReason === 'max_tokens') {
        return `the model used all ${maxTokens} output tokens; raise ANTHROPIC_MAX_TOKENS or ask for shorter conversations`;
      }
      if (stopReason === 'model_context_window_exceeded')
        return 'the prompt and output exceed the model context window; shorten the template';
      return undefined;
    },
  });
}

/** The model, usage, stop reason and conversation of a Messages API message. */
function readMessage(message: Anthropic.Message): ModelOutput {
  const { raw, check } = readConversation(message.content);
  return {
    model: message.model,
    inputTokens: message.usage?.input_tokens ?? 0,
    outputTokens: message.usage?.output_tokens ?? 0,
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
