import OpenAI, { APIConnectionError, APIError, APIUserAbortError, OpenAIError } from 'openai';
import { createModelGenerator, sdkClientOptions, type ModelGeneratorOptions, type ModelOutput } from './model-generator';
import type { ConversationGenerator } from './provider';
import type { OpenAIResponseFormat } from '../config';
import type { EmotionalArcRow } from '../domain/rows';
import type { SdkErrors } from './sdk-errors';
import {
  jsonShapeInstructions,
  readConversationText,
  SENT_SCHEMA_LIMITS,
  sentTurnsFor,
  strictConversationJsonSchema,
  type OutputCheck,
} from './structured-output';

/** The provider name, as `GENERATOR` spells it and `conversations.generator` records it. */
export const OPENAI_GENERATOR = 'openai';

/**
 * Sent as the API key when none is configured: OpenAI-compatible servers (vLLM, Ollama, llama.cpp)
 * often need none, but the SDK will not send a request without one.
 */
export const NO_API_KEY = 'no-key';

/** Options of {@link createOpenAIGenerator} (from `OPENAI_*`); `model` e.g. 'gpt-4o-mini'. */
export interface OpenAIGeneratorOptions extends ModelGeneratorOptions {
  /** Absent for a compatible server that needs no key. */
  apiKey?: string;
  /** e.g. 'http://127.0.0.1:8000/v1' for a compatible server; default: OpenAI's API. */
  baseURL?: string;
  /** `json_schema` (default: the conversation's schema, strict) or `json_object` (any JSON; the shape is only asked for). */
  responseFormat?: OpenAIResponseFormat;
}

export type { OpenAIResponseFormat } from '../config';

/** The `response_format` of a request. */
export function responseFormat(
  format: OpenAIResponseFormat,
  turns: number = SENT_SCHEMA_LIMITS.turns,
): OpenAI.ChatCompletionCreateParams['response_format'] {
  if (format === 'json_object') return { type: 'json_object' };
  return { type: 'json_schema', json_schema: { name: 'conversation', strict: true, schema: strictConversationJsonSchema(turns) } };
}

/**
 * A server that does not take `json_schema` says so with a 400 naming `response_format` or
 * `json_schema` (OpenAI for older models, some compatible servers): the provider then asks for
 * `json_object` instead, for that request and every later one.
 */
function refusesJsonSchema(err: unknown): boolean {
  return err instanceof APIError && err.status === 400 && /response_format|json_schema/i.test(err.message);
}

/** The OpenAI SDK's error classes, mapped to retry decisions by `sdkCallError` (shared with the batch client). */
export const OPENAI_SDK_ERRORS: SdkErrors<APIError> = {
  base: OpenAIError,
  api: APIError,
  connection: APIConnectionError,
  userAbort: APIUserAbortError,
  apiMessage: (error) => {
    // The SDK keeps the body's `error` object: { message, type, param, code }.
    const inner = error.error as { message?: unknown } | undefined;
    return typeof inner?.message === 'string' ? inner.message : undefined;
  },
};

/**
 * The chat completion body of one prompt, for `POST /v1/chat/completions` and for a Batch API
 * line (`body`): the system message giving the exact JSON shape ({@link jsonShapeInstructions},
 * fixed), the prompt as the user message, and `response_format`. No layout change for the prompt
 * cache: OpenAI caches the longest previously seen prefix of 1024 tokens or more by itself, and
 * the system message plus the template's static head already lead every request of a template.
 */
export function openAIChatRequest(
  model: string,
  prompt: string,
  format: OpenAIResponseFormat,
  arc?: Pick<EmotionalArcRow, 'typical_turn_count_min' | 'typical_turn_count_max'>,
): OpenAI.ChatCompletionCreateParamsNonStreaming {
  // The schema and the instructions allow the turns the item's arc asks for (the default bound without one).
  const turns = sentTurnsFor(arc);
  return {
    model,
    messages: [
      { role: 'system', content: jsonShapeInstructions(turns) },
      { role: 'user', content: prompt },
    ],
    response_format: responseFormat(format, turns),
  };
}

/** True when a 2xx body is a chat completion (not, e.g., a gateway's page). */
export function isChatCompletion(body: object): boolean {
  return Array.isArray((body as Partial<OpenAI.ChatCompletion>).choices);
}

/** The {@link TruncatedOutputError} advice for a `finish_reason`, or undefined when the output is whole. */
export function openAITruncationHint(finishReason: string): string | undefined {
  return finishReason === 'length'
    ? 'the model reached its output token limit; ask for shorter conversations or use a model with a larger limit'
    : undefined;
}

/**
 * The `openai` provider for OpenAI and OpenAI-compatible servers: one chat completion per attempt
 * with `response_format` `json_schema` (the conversation's JSON Schema, strict, every string
 * bounded: OpenAI, vLLM, llama.cpp and Ollama constrain the output to it) or, where a server refuses
 * that, `json_object`; a system message giving the exact JSON shape and the rendered prompt as the
 * user message. Errors, retries and aborts are the scaffold's
 * ({@link createModelGenerator}); the output is cut off (a `TruncatedOutputError`) at
 * `finish_reason: 'length'`, and a refusal or a completion without choices is invalid output.
 */
export function createOpenAIGenerator(options: OpenAIGeneratorOptions): ConversationGenerator {
  const { model } = options;
  const client = new OpenAI({ ...sdkClientOptions(options), apiKey: options.apiKey ?? NO_API_KEY });
  let format: OpenAIResponseFormat = options.responseFormat ?? 'json_schema';

  return createModelGenerator({
    name: OPENAI_GENERATOR,
    model,
    prices: options.prices,
    sdkErrors: OPENAI_SDK_ERRORS,
    buildRequest: ({ prompt, arc }) => openAIChatRequest(model, prompt, format, arc),
    send: async (body, signal) => {
      try {
        return await client.chat.completions.create(body, { signal });
      } catch (err) {
        if (body.response_format?.type !== 'json_schema' || !refusesJsonSchema(err)) throw err;
        // Not the item's fault: the same attempt again, the way this server takes.
        format = 'json_object';
        return client.chat.completions.create({ ...body, response_format: responseFormat(format) }, { signal });
      }
    },
    responseName: 'a chat completion',
    isResponse: isChatCompletion,
    readOutput: readCompletion,
    truncationHint: openAITruncationHint,
  });
}

/**
 * The model, usage, finish reason and conversation of a chat completion (its first choice).
 * OpenAI's `prompt_tokens` includes the cached tokens; `inputTokens` is normalised to the uncached
 * part (`prompt_tokens - cached_tokens`), as Anthropic counts it, and the cached part is
 * `cacheReadInputTokens` (OpenAI has no cache writes to count).
 */
export function readCompletion(completion: OpenAI.ChatCompletion): ModelOutput {
  const choice = completion.choices[0];
  const raw = choice?.message?.content ?? choice?.message?.refusal ?? '';
  let check: OutputCheck;
  if (!choice) check = { ok: false, failureType: 'parse_error', issues: '(root): the response has no choices' };
  else if (choice.message?.refusal)
    check = { ok: false, failureType: 'parse_error', issues: `(root): the model refused: ${choice.message.refusal}` };
  else check = readConversationText(raw);
  const cached = completion.usage?.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    model: completion.model,
    inputTokens: Math.max(0, (completion.usage?.prompt_tokens ?? 0) - cached),
    outputTokens: completion.usage?.completion_tokens ?? 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: cached,
    stopReason: choice?.finish_reason ?? undefined,
    raw,
    check,
  };
}
