import Anthropic, { AnthropicError, APIConnectionError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import type { FailureType } from '../domain/enums';
import { TruncatedOutputError, withFailedAttempt, type FailedAttempt } from './failed-attempt';
import { apiFailureError, networkFailureError } from './http-errors';
import { createPriceTable, type PriceTable } from './pricing';
import {
  InvalidOutputError,
  PermanentGenerationError,
  TransientGenerationError,
  type ConversationGenerator,
  type GenerationRequest,
  type GenerationResult,
} from './provider';
import { abortError } from './sleep';
import { checkConversation, CONVERSATION_TOOL_NAME, conversationJsonSchema, readConversationText, type OutputCheck } from './structured-output';

/** The provider name, as `GENERATOR` spells it and `conversations.generator` records it. */
export const ANTHROPIC_GENERATOR = 'anthropic';

/** The last Anthropic API version that accepts `temperature`. */
export const SAMPLING_API_VERSION = '2023-06-01';

/** Options of {@link createAnthropicGenerator} (from `ANTHROPIC_*`). */
export interface AnthropicGeneratorOptions {
  /** Sent on every request; when absent the SDK reads `ANTHROPIC_API_KEY`. */
  apiKey?: string;
  /** e.g. a gateway or a local stand-in; when absent the SDK reads `ANTHROPIC_BASE_URL`. */
  baseURL?: string;
  /** e.g. 'claude-sonnet-4-5'. */
  model: string;
  maxTokens: number;
  /**
   * 0 to 1; unset by default. API version 2026-10-21, which this SDK sends, rejects every sampling
   * parameter, so a request with a temperature pins `anthropic-version: 2023-06-01`, the last
   * version that takes one. Models that dropped sampling parameters (Opus 4.7 and later,
   * generation 5) still answer 400 "temperature is deprecated for this model", which fails the item.
   */
  temperature?: number;
  /** Prices `costUsd`; default: the built-in table. */
  prices?: PriceTable;
  /** Longest wait for one response, in ms (default: the SDK's, 10 minutes). */
  timeoutMs?: number;
}

/**
 * The `anthropic` provider: one Messages API call per attempt, the rendered prompt as the user
 * message, and the conversation shape enforced by forcing the tool `record_conversation`, whose
 * input schema is {@link GeneratedConversation}'s JSON Schema.
 *
 * The SDK never retries (`maxRetries: 0`): Temporal retries the item activity, guided by the error
 * thrown. 408/409/429/5xx/529 and network failures throw {@link TransientGenerationError} (with the
 * `retry-after` wait), other 4xx {@link PermanentGenerationError}, unusable output
 * {@link InvalidOutputError} (a {@link TruncatedOutputError} at `stop_reason: 'max_tokens'`). Each
 * carries a {@link FailedAttempt} for `failed_generations`. Aborting `req.signal` aborts the HTTP
 * request and rejects with an 'AbortError'.
 */
export function createAnthropicGenerator(options: AnthropicGeneratorOptions): ConversationGenerator {
  const { model, maxTokens, temperature } = options;
  const prices = options.prices ?? createPriceTable();
  const client = new Anthropic({
    maxRetries: 0,
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
    ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
  });
  const tool: Anthropic.Tool = {
    name: CONVERSATION_TOOL_NAME,
    description:
      'Records the complete training conversation you were asked to write. Put every turn in `turns`, numbered from 1, ' +
      "alternating roles as the request describes, each with its emotional context (intensity from 0 to 1).",
    input_schema: conversationJsonSchema() as Anthropic.Tool.InputSchema,
  };

  return {
    name: ANTHROPIC_GENERATOR,
    async generate(req: GenerationRequest): Promise<GenerationResult> {
      if (req.signal.aborted) throw abortError(req.signal, 'anthropic generation');
      const failed = (failureType: FailureType, extra: Partial<FailedAttempt> = {}): FailedAttempt => ({
        failureType,
        generator: ANTHROPIC_GENERATOR,
        model,
        prompt: req.prompt,
        ...extra,
      });

      let message: Anthropic.Message;
      try {
        message = await client.messages.create(
          {
            model,
            max_tokens: maxTokens,
            messages: [{ role: 'user', content: req.prompt }],
            tools: [tool],
            tool_choice: { type: 'tool', name: CONVERSATION_TOOL_NAME },
            // Not in this SDK's types (its API version has no sampling parameters); see `temperature`.
            ...(temperature === undefined ? {} : ({ temperature } as object)),
          },
          { signal: req.signal, ...(temperature === undefined ? {} : { headers: { 'anthropic-version': SAMPLING_API_VERSION } }) },
        );
      } catch (err) {
        if (req.signal.aborted || err instanceof APIUserAbortError) throw abortError(req.signal, 'anthropic generation');
        throw toGenerationError(err, failed);
      }
      if (typeof message !== 'object' || message === null || !Array.isArray(message.content)) {
        // A proxy or gateway answered 2xx with something else (an HTML page, plain text).
        const raw = typeof message === 'string' ? message : JSON.stringify(message);
        throw withFailedAttempt(
          new TransientGenerationError(`anthropic answered without a Messages API message: ${raw.slice(0, 200)}`),
          failed('api_error', { rawResponse: raw }),
        );
      }

      const answeredBy = message.model || model;
      const inputTokens = message.usage?.input_tokens ?? 0;
      const outputTokens = message.usage?.output_tokens ?? 0;
      const stopReason = message.stop_reason ?? undefined;
      const { raw, check } = readOutput(message.content);
      const seen = { model: answeredBy, rawResponse: raw, inputTokens, outputTokens, ...(stopReason ? { stopReason } : {}) };

      if (stopReason === 'max_tokens' || stopReason === 'model_context_window_exceeded') {
        const hint =
          stopReason === 'max_tokens'
            ? `the model used all ${maxTokens} output tokens; raise ANTHROPIC_MAX_TOKENS or ask for shorter conversations`
            : 'the prompt and output exceed the model context window; shorten the template';
        throw withFailedAttempt(new TruncatedOutputError(raw, stopReason, hint), failed('truncation', seen));
      }
      if (!check.ok) throw withFailedAttempt(new InvalidOutputError(raw, check.issues), failed(check.failureType, seen));

      return {
        conversation: check.value,
        model: answeredBy,
        generator: ANTHROPIC_GENERATOR,
        isSynthetic: false,
        inputTokens,
        outputTokens,
        costUsd: prices.costUsd(answeredBy, inputTokens, outputTokens),
      };
    },
  };
}

/**
 * The conversation from the response: the `record_conversation` tool input (an object, or a JSON
 * string from some compatible servers), else the text blocks parsed as JSON (a server that ignored
 * `tool_choice`). `raw` is what the model said, as text, for `failed_generations`.
 */
function readOutput(content: readonly Anthropic.ContentBlock[]): { raw: string; check: OutputCheck } {
  const toolUse = content.find((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use' && block.name === CONVERSATION_TOOL_NAME);
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

/** Maps what `messages.create` threw to the generation error the item activity retries by. */
function toGenerationError(err: unknown, failed: (type: FailureType, extra?: Partial<FailedAttempt>) => FailedAttempt): Error {
  if (err instanceof APIConnectionError) return withFailedAttempt(networkFailureError(ANTHROPIC_GENERATOR, err), failed('api_error'));
  if (err instanceof APIError && typeof err.status === 'number') {
    const body = err.error === undefined ? undefined : JSON.stringify(err.error);
    const error = apiFailureError({
      provider: ANTHROPIC_GENERATOR,
      status: err.status,
      type: err.type,
      message: err.apiMessage ?? body ?? err.message,
      headers: err.headers,
      cause: err,
    });
    return withFailedAttempt(error, failed('api_error', body === undefined ? {} : { rawResponse: body }));
  }
  if (err instanceof AnthropicError) {
    // Raised by the SDK before sending, e.g. a max_tokens that needs streaming: the same request fails again.
    return withFailedAttempt(new PermanentGenerationError(`anthropic client error: ${err.message}`, { cause: err }), failed('api_error'));
  }
  // E.g. a 2xx body that is not valid JSON: a broken proxy or a cut connection, worth another try.
  const detail = err instanceof Error ? err.message : String(err);
  return withFailedAttempt(new TransientGenerationError(`anthropic response could not be read: ${detail}`, { cause: err }), failed('api_error'));
}
