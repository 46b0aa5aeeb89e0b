import Anthropic from '@anthropic-ai/sdk';
import {
  ANTHROPIC_GENERATOR,
  ANTHROPIC_SDK_ERRORS,
  anthropicCacheEstimate,
  anthropicRequestBuilder,
  anthropicTruncationHint,
  isAnthropicMessage,
  readMessage,
  SAMPLING_API_VERSION,
  type AnthropicRequestOptions,
  type CacheEstimate,
} from '../anthropic';
import { sdkClientOptions } from '../model-generator';
import { createPriceTable, type PriceTable } from '../pricing';
import { batchCallError, batchLimits, checkBatchSize, succeededLine, type BatchLimits } from './batch-common';
import type { BatchItemInput, BatchProvider, BatchRequestLine, BatchResultLine, ProviderBatchStatus } from './provider-batch';

/** Anthropic's Message Batches limits: 100,000 requests or 256 MB per batch, whichever comes first. */
export const ANTHROPIC_BATCH_LIMITS: Readonly<BatchLimits> = Object.freeze({ maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 });

/** Options of {@link createAnthropicBatchProvider}: the synchronous provider's settings (`ANTHROPIC_*`). */
export interface AnthropicBatchProviderOptions extends AnthropicRequestOptions {
  /** When absent the SDK reads `ANTHROPIC_API_KEY`. */
  apiKey?: string;
  /** e.g. a stand-in; when absent the SDK reads `ANTHROPIC_BASE_URL`. */
  baseURL?: string;
  /** Longest wait for one API call, in ms (default: the SDK's). */
  timeoutMs?: number;
  /** Prices `costUsd`; default: the built-in table. */
  prices?: PriceTable;
  /** Replaces {@link ANTHROPIC_BATCH_LIMITS} in part (e.g. small limits in tests). */
  limits?: Partial<BatchLimits>;
}

/** An Anthropic {@link BatchProvider}, plus the cache-size check of its requests. */
export interface AnthropicBatchProvider extends BatchProvider {
  /** Whether requests with this `cachePrefix` are long enough to be cached ({@link anthropicCacheEstimate}). */
  cacheEstimate(cachePrefix: string): CacheEstimate;
}

/**
 * The `anthropic` provider's batch API (Message Batches, `/v1/messages/batches`), through the SDK
 * with `maxRetries: 0` (the activities retry, guided by the error): each line's `params` are the
 * synchronous provider's request ({@link anthropicRequestBuilder}: the conversation tool forced, the
 * prompt cache's breakpoint after the template head), each result is read as the synchronous
 * provider reads a message (`readMessage`, a `max_tokens` stop is a `truncation`), priced with the
 * batch discount and the cache multipliers. Message Batches have no metadata, so there is no
 * `findByKey`: the workflow keeps the batch id before anything else. Errors: 413 and a chunk over
 * {@link ANTHROPIC_BATCH_LIMITS} are permanent and name the size; the rest as the synchronous
 * provider (429/5xx/529 transient, other 4xx permanent).
 */
export function createAnthropicBatchProvider(options: AnthropicBatchProviderOptions): AnthropicBatchProvider {
  const { model, maxTokens, temperature, cacheTtl = '5m' } = options;
  const client = new Anthropic({
    ...sdkClientOptions(options),
    ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
  });
  const build = anthropicRequestBuilder(options);
  const prices = options.prices ?? createPriceTable();
  const limits = batchLimits(ANTHROPIC_BATCH_LIMITS, options.limits);
  const requestOptions = (signal?: AbortSignal) => ({
    ...(signal === undefined ? {} : { signal }),
    // As the synchronous provider: a temperature needs the last API version that takes one.
    ...(temperature === undefined ? {} : { headers: { 'anthropic-version': SAMPLING_API_VERSION } }),
  });
  const call = async <T>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>, bytes?: number): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw batchCallError(ANTHROPIC_GENERATOR, what, err, ANTHROPIC_SDK_ERRORS, {
        ...(signal ? { signal } : {}),
        ...(bytes ? { bytes } : {}),
      });
    }
  };
  const readLine = (line: Anthropic.Messages.MessageBatchIndividualResponse): BatchResultLine =>
    resultLine(line, {
      model,
      prices,
      cacheTtl: cacheTtl === 'off' ? '5m' : cacheTtl,
      hint: (stop) => anthropicTruncationHint(stop, maxTokens),
    });

  return {
    name: ANTHROPIC_GENERATOR,
    model,
    limits,
    buildLine(input: BatchItemInput): BatchRequestLine {
      return { customId: input.itemId, body: build({ prompt: input.prompt, cachePrefix: input.cachePrefix, arc: input.arc }) };
    },
    cacheEstimate: (cachePrefix) => anthropicCacheEstimate(model, cachePrefix),
    async create(lines, chunkKey, signal) {
      const body: Anthropic.Messages.BatchCreateParams = {
        requests: lines.map((line) => ({ custom_id: line.customId, params: line.body as Anthropic.MessageCreateParamsNonStreaming })),
      };
      const bytes = Buffer.byteLength(JSON.stringify(body));
      checkBatchSize(ANTHROPIC_GENERATOR, lines.length, bytes, limits);
      const what = `anthropic batch create (chunk ${chunkKey}, ${lines.length} requests)`;
      return statusOf(await call(what, signal, () => client.messages.batches.create(body, requestOptions(signal)), bytes));
    },
    async get(id, signal) {
      return statusOf(
        await call(`anthropic batch ${id} retrieve`, signal, () => client.messages.batches.retrieve(id, {}, requestOptions(signal))),
      );
    },
    async *results(id, signal) {
      const what = `anthropic batch ${id} results`;
      const decoder = await call(what, signal, () => client.messages.batches.results(id, {}, requestOptions(signal)));
      const lines = decoder[Symbol.asyncIterator]();
      for (;;) {
        const next = await call(what, signal, () => lines.next());
        if (next.done) return;
        yield readLine(next.value);
      }
    },
    async cancel(id, signal) {
      return statusOf(
        await call(`anthropic batch ${id} cancel`, signal, () => client.messages.batches.cancel(id, {}, requestOptions(signal))),
      );
    },
  };
}

/** A Message Batch as a {@link ProviderBatchStatus}: Anthropic's statuses and counts are the contract's own. */
function statusOf(batch: Anthropic.Messages.MessageBatch): ProviderBatchStatus {
  const counts = batch.request_counts;
  return {
    id: batch.id,
    state: batch.processing_status,
    providerStatus: batch.processing_status,
    counts: {
      processing: counts.processing,
      succeeded: counts.succeeded,
      errored: counts.errored,
      canceled: counts.canceled,
      expired: counts.expired,
    },
  };
}

interface ReadContext {
  model: string;
  prices: PriceTable;
  cacheTtl: '5m' | '1h';
  hint: (stopReason: string) => string | undefined;
}

/**
 * One results line as a {@link BatchResultLine}. An errored line's error is Anthropic's error body
 * (`{ type: 'error', error: { type, message } }`); `invalid_request_error` (the request itself is
 * wrong) is permanent, the rest (`api_error`, `overloaded_error`, ...) can pass when resubmitted.
 */
function resultLine(line: Anthropic.Messages.MessageBatchIndividualResponse, ctx: ReadContext): BatchResultLine {
  const customId = line.custom_id;
  const { result } = line;
  switch (result.type) {
    case 'succeeded': {
      const message = result.message as unknown;
      if (typeof message !== 'object' || message === null || !isAnthropicMessage(message)) {
        return {
          customId,
          type: 'errored',
          errorType: 'api_error',
          message: 'the succeeded result has no Messages API message',
          permanent: false,
        };
      }
      return succeededLine(customId, readMessage(result.message), { ...ctx, truncationHint: ctx.hint });
    }
    case 'errored': {
      const inner = (result.error as { error?: { type?: string; message?: string } } | undefined)?.error;
      const errorType = inner?.type ?? 'api_error';
      return {
        customId,
        type: 'errored',
        errorType,
        message: `anthropic batch request ${customId}: ${errorType}: ${inner?.message ?? 'no message in the result'}`,
        permanent: errorType === 'invalid_request_error',
      };
    }
    case 'expired':
    case 'canceled':
      return { customId, type: result.type };
  }
}
