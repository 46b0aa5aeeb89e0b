import type { EmotionalArcRow } from '../domain/rows';
import { failureRecorder, TruncatedOutputError, withFailedAttempt } from './failed-attempt';
import { createPriceTable, type CacheTtl, type PriceTable } from './pricing';
import {
  InvalidOutputError,
  TransientGenerationError,
  type ConversationGenerator,
  type GenerationRequest,
  type GenerationResult,
} from './provider';
import { sdkCallError, type SdkApiError, type SdkErrors } from './sdk-errors';
import { abortError } from './sleep';
import type { OutputCheck } from './structured-output';
import type { BatchUsage } from './batch/provider-batch';

/** The options every model provider takes; each adds its key, base URL and model settings. */
export interface ModelGeneratorOptions {
  /** The model to ask for, e.g. 'claude-sonnet-4-5' or 'gpt-4o-mini'. */
  model: string;
  /** Prices `costUsd`; default: the built-in table. */
  prices?: PriceTable;
  /** Longest wait for one response, in ms (default: the SDK's, 10 minutes). */
  timeoutMs?: number;
}

/** The SDK client options {@link sdkClientOptions} sets (both SDKs spell them so). */
export interface SdkClientOptions {
  maxRetries: number;
  baseURL?: string;
  timeout?: number;
}

/**
 * The client options every provider's SDK gets: `maxRetries: 0`, because Temporal retries the item
 * activity, guided by the error thrown, and the base URL and the timeout when they are set.
 */
export function sdkClientOptions(options: { baseURL?: string; timeoutMs?: number }): SdkClientOptions {
  return {
    maxRetries: 0,
    ...(options.baseURL === undefined ? {} : { baseURL: options.baseURL }),
    ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
  };
}

/** What a provider read from one well-formed response. */
export interface ModelOutput {
  /** The model that answered, when the response names it (else the one asked for is recorded). */
  model?: string;
  /** Uncached input only (see `GenerationResult.inputTokens`). */
  inputTokens: number;
  outputTokens: number;
  /** Written to the prompt cache; 0 when none. */
  cacheCreationInputTokens: number;
  /** Read from the prompt cache; 0 when none. */
  cacheReadInputTokens: number;
  /** Why the model stopped, as the API says it (`stop_reason`, `finish_reason`). */
  stopReason?: string;
  /** What the model said, as text: kept in `failed_generations` and on {@link InvalidOutputError}. */
  raw: string;
  /** The conversation in the output, or why there is none (e.g. a refusal is a `parse_error`). */
  check: OutputCheck;
}

/** What a request is built from: the rendered prompt and its static head (`prompt.startsWith(cachePrefix)`). */
export interface PromptInput {
  prompt: string;
  cachePrefix: string;
  /** The item's arc: a provider whose schema bounds the turns bounds them by it (`sentTurnsFor`). */
  arc: EmotionalArcRow;
}

/** What differs between model providers: the input of {@link createModelGenerator}. */
export interface ModelProvider<Request, Response, ApiError extends SdkApiError> extends Omit<ModelGeneratorOptions, 'timeoutMs'> {
  /** The provider name, as `GENERATOR` spells it and `conversations.generator` records it. */
  name: string;
  /** The SDK's error classes, mapped to retry decisions by {@link sdkCallError}. */
  sdkErrors: SdkErrors<ApiError>;
  /** The API request for one rendered prompt and its cacheable head (`cachePrefix`, '' when none). */
  buildRequest(input: PromptInput): Request;
  /** The TTL of the cache writes the requests ask for, which prices them (default '5m'). */
  cacheTtl?: CacheTtl;
  /** Sends the request and resolves with the API's response; `signal` must abort the HTTP request. */
  send(request: Request, signal: AbortSignal): Promise<Response>;
  /** What a 2xx answer should be, with its article, e.g. 'a chat completion'; names it in the error when it is not. */
  responseName: string;
  /** True when a 2xx answer (known to be an object) is the API's response, not e.g. a gateway's page. */
  isResponse(body: object): boolean;
  /** The usage, stop reason and conversation of a response that passed {@link ModelProvider.isResponse}. */
  readOutput(response: Response): ModelOutput;
  /**
   * When `stopReason` means the model stopped at a token limit, so the output is cut off: the advice
   * the {@link TruncatedOutputError} gives (what to raise or shorten). Undefined for other reasons.
   */
  truncationHint(stopReason: string): string | undefined;
}

/**
 * The scaffold of every model provider: a {@link ConversationGenerator} that makes one API call per
 * attempt and turns what happened into a {@link GenerationResult} or an error the item activity
 * retries by, each error with a `FailedAttempt` (provider, model, prompt, what came back) for
 * `failed_generations`:
 * - the call threw: {@link sdkCallError} (408/409/429/5xx/529 and network failures transient, with
 *   the `retry-after` wait; other 4xx permanent);
 * - a 2xx answer that is not the API's response (a proxy's HTML page): transient (`api_error`);
 * - the model stopped at a token limit: {@link TruncatedOutputError} (`truncation`), even when the
 *   partial output would parse;
 * - output that is no valid conversation: {@link InvalidOutputError} (`parse_error`, `validation_error`).
 * Aborting `req.signal` aborts the HTTP request and rejects with an 'AbortError', recording nothing.
 * Usage is priced with `prices` by the model that answered, cache writes and reads included.
 *
 * To add a provider, write one file `src/generation/<name>.ts` that builds its SDK client with
 * {@link sdkClientOptions} and returns `createModelGenerator({ name, model, prices, sdkErrors,
 * buildRequest, send, responseName, isResponse, readOutput, truncationHint })`, keeping only its
 * request building and output reading (see `anthropic.ts`, `openai.ts`); then add its name to
 * `GENERATORS` in `src/config.ts` with its settings, a case in `createGenerator` (`factory.ts`),
 * and its models' prices in `pricing.ts`. A provider's batch API (Anthropic Message Batches, OpenAI
 * Batch API) takes the same requests and answers with the same responses as its synchronous API, so
 * its file reuses that provider's `buildRequest` and `readOutput` (exported from that provider's file
 * for it, e.g. `readMessage` in `anthropic.ts`) and differs in `send`: it puts the
 * request into a batch and resolves with that request's response from the batch's results (an
 * errored result rejects, as the synchronous call would have).
 */
export function createModelGenerator<Request, Response, ApiError extends SdkApiError>(
  provider: ModelProvider<Request, Response, ApiError>,
): ConversationGenerator {
  const { name, model, sdkErrors } = provider;
  const prices = provider.prices ?? createPriceTable();
  const what = `${name} generation`;

  return {
    name,
    async generate(req: GenerationRequest): Promise<GenerationResult> {
      if (req.signal.aborted) throw abortError(req.signal, what);
      const failed = failureRecorder({ generator: name, model, prompt: req.prompt });

      let response: Response;
      try {
        response = await provider.send(
          provider.buildRequest({ prompt: req.prompt, cachePrefix: req.cachePrefix ?? '', arc: req.arc }),
          req.signal,
        );
      } catch (err) {
        if (req.signal.aborted || err instanceof sdkErrors.userAbort) throw abortError(req.signal, what);
        throw sdkCallError(name, err, sdkErrors, failed);
      }
      if (typeof response !== 'object' || response === null || !provider.isResponse(response)) {
        // A proxy or gateway answered 2xx with something else (an HTML page, plain text).
        const raw = typeof response === 'string' ? response : JSON.stringify(response);
        throw withFailedAttempt(
          new TransientGenerationError(`${name} answered without ${provider.responseName}: ${raw.slice(0, 200)}`),
          failed('api_error', { rawResponse: raw }),
        );
      }

      const output = provider.readOutput(response);
      const { model: reported, inputTokens, outputTokens, stopReason, raw, check } = output;
      const answeredBy = reported || model;
      const seen = { model: answeredBy, rawResponse: raw, inputTokens, outputTokens, ...(stopReason ? { stopReason } : {}) };

      if (stopReason !== undefined) {
        const hint = provider.truncationHint(stopReason);
        if (hint !== undefined) throw withFailedAttempt(new TruncatedOutputError(raw, stopReason, hint), failed('truncation', seen));
      }
      if (!check.ok) throw withFailedAttempt(new InvalidOutputError(raw, check.issues), failed(check.failureType, seen));

      return {
        conversation: check.value,
        model: answeredBy,
        generator: name,
        isSynthetic: false,
        inputTokens,
        outputTokens,
        cacheCreationInputTokens: output.cacheCreationInputTokens,
        cacheReadInputTokens: output.cacheReadInputTokens,
        costUsd: prices.costOf(answeredBy, usageOf(output), { batch: false, cacheTtl: provider.cacheTtl ?? '5m' }),
      };
    },
  };
}

/** The token counts of an output, as {@link PriceTable.costOf} and `BatchResultLine` take them. */
export function usageOf(output: ModelOutput): BatchUsage {
  return {
    inputTokens: output.inputTokens,
    outputTokens: output.outputTokens,
    cacheCreationInputTokens: output.cacheCreationInputTokens,
    cacheReadInputTokens: output.cacheReadInputTokens,
  };
}
