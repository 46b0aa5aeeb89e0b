import OpenAI, { APIConnectionError, APIError, APIUserAbortError, OpenAIError } from 'openai';
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
import { jsonShapeInstructions, readConversationText } from './structured-output';

/** The provider name, as `GENERATOR` spells it and `conversations.generator` records it. */
export const OPENAI_GENERATOR = 'openai';

/**
 * Sent as the API key when none is configured: OpenAI-compatible servers (vLLM, Ollama, llama.cpp)
 * often need none, but the SDK will not send a request without one.
 */
export const NO_API_KEY = 'no-key';

/** Options of {@link createOpenAIGenerator} (from `OPENAI_*`). */
export interface OpenAIGeneratorOptions {
  /** Absent for a compatible server that needs no key. */
  apiKey?: string;
  /** e.g. 'http://127.0.0.1:8000/v1' for a compatible server; default: OpenAI's API. */
  baseURL?: string;
  /** e.g. 'gpt-4o-mini'. */
  model: string;
  /** Prices `costUsd`; default: the built-in table. */
  prices?: PriceTable;
  /** Longest wait for one response, in ms (default: the SDK's, 10 minutes). */
  timeoutMs?: number;
}

/**
 * The `openai` provider for OpenAI and OpenAI-compatible servers: one chat completion per attempt
 * with `response_format: { type: 'json_object' }`, a system message giving the exact JSON shape and
 * the rendered prompt as the user message. Errors map as for the Anthropic provider: 408/409/429/5xx
 * and network failures are transient (with `retry-after`), other 4xx permanent, unusable output
 * {@link InvalidOutputError} (a {@link TruncatedOutputError} at `finish_reason: 'length'`), each
 * with a {@link FailedAttempt}. The SDK never retries (`maxRetries: 0`); Temporal does.
 */
export function createOpenAIGenerator(options: OpenAIGeneratorOptions): ConversationGenerator {
  const { model } = options;
  const prices = options.prices ?? createPriceTable();
  const client = new OpenAI({
    maxRetries: 0,
    apiKey: options.apiKey ?? NO_API_KEY,
    ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
  });
  const system = jsonShapeInstructions();

  return {
    name: OPENAI_GENERATOR,
    async generate(req: GenerationRequest): Promise<GenerationResult> {
      if (req.signal.aborted) throw abortError(req.signal, 'openai generation');
      const failed = (failureType: FailureType, extra: Partial<FailedAttempt> = {}): FailedAttempt => ({
        failureType,
        generator: OPENAI_GENERATOR,
        model,
        prompt: req.prompt,
        ...extra,
      });

      let completion: OpenAI.ChatCompletion;
      try {
        completion = await client.chat.completions.create(
          {
            model,
            messages: [
              { role: 'system', content: system },
              { role: 'user', content: req.prompt },
            ],
            response_format: { type: 'json_object' },
          },
          { signal: req.signal },
        );
      } catch (err) {
        if (req.signal.aborted || err instanceof APIUserAbortError) throw abortError(req.signal, 'openai generation');
        throw toGenerationError(err, failed);
      }
      if (typeof completion !== 'object' || completion === null || !Array.isArray(completion.choices)) {
        const raw = typeof completion === 'string' ? completion : JSON.stringify(completion);
        throw withFailedAttempt(
          new TransientGenerationError(`openai answered without a chat completion: ${raw.slice(0, 200)}`),
          failed('api_error', { rawResponse: raw }),
        );
      }

      const answeredBy = completion.model || model;
      const inputTokens = completion.usage?.prompt_tokens ?? 0;
      const outputTokens = completion.usage?.completion_tokens ?? 0;
      const choice = completion.choices[0];
      const finishReason = choice?.finish_reason ?? undefined;
      const raw = choice?.message?.content ?? choice?.message?.refusal ?? '';
      const seen = { model: answeredBy, rawResponse: raw, inputTokens, outputTokens, ...(finishReason ? { stopReason: finishReason } : {}) };

      if (finishReason === 'length') {
        const hint = 'the model reached its output token limit; ask for shorter conversations or use a model with a larger limit';
        throw withFailedAttempt(new TruncatedOutputError(raw, finishReason, hint), failed('truncation', seen));
      }
      if (!choice) {
        throw withFailedAttempt(new InvalidOutputError(raw, '(root): the response has no choices'), failed('parse_error', seen));
      }
      if (choice.message?.refusal) {
        throw withFailedAttempt(new InvalidOutputError(raw, `(root): the model refused: ${choice.message.refusal}`), failed('parse_error', seen));
      }
      const check = readConversationText(raw);
      if (!check.ok) throw withFailedAttempt(new InvalidOutputError(raw, check.issues), failed(check.failureType, seen));

      return {
        conversation: check.value,
        model: answeredBy,
        generator: OPENAI_GENERATOR,
        isSynthetic: false,
        inputTokens,
        outputTokens,
        costUsd: prices.costUsd(answeredBy, inputTokens, outputTokens),
      };
    },
  };
}

/** Maps what `chat.completions.create` threw to the generation error the item activity retries by. */
function toGenerationError(err: unknown, failed: (type: FailureType, extra?: Partial<FailedAttempt>) => FailedAttempt): Error {
  if (err instanceof APIConnectionError) return withFailedAttempt(networkFailureError(OPENAI_GENERATOR, err), failed('api_error'));
  if (err instanceof APIError && typeof err.status === 'number') {
    // The SDK keeps the body's `error` object: { message, type, param, code }.
    const inner = err.error as { message?: unknown } | undefined;
    const body = inner === undefined ? undefined : JSON.stringify(inner);
    const error = apiFailureError({
      provider: OPENAI_GENERATOR,
      status: err.status,
      type: err.type ?? null,
      message: typeof inner?.message === 'string' ? inner.message : (body ?? err.message),
      headers: err.headers,
      cause: err,
    });
    return withFailedAttempt(error, failed('api_error', body === undefined ? {} : { rawResponse: body }));
  }
  if (err instanceof OpenAIError) {
    return withFailedAttempt(new PermanentGenerationError(`openai client error: ${err.message}`, { cause: err }), failed('api_error'));
  }
  const detail = err instanceof Error ? err.message : String(err);
  return withFailedAttempt(new TransientGenerationError(`openai response could not be read: ${detail}`, { cause: err }), failed('api_error'));
}
