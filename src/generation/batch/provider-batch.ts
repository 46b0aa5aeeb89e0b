import type { Tier } from '../../domain/enums';
import type { EmotionalArcRow, PersonaRow, TopicRow } from '../../domain/rows';
import type { GeneratedConversation } from '../conversation';

/**
 * A provider's batch API (Anthropic Message Batches, OpenAI Batch API, the offline generator's
 * batch mode) as the provider-batch execution mode uses it: a chunk of item requests goes out as
 * one provider batch (`custom_id` = the item id), is polled until it ends, and its results are read
 * by `custom_id`, in any order. The workflow keeps the provider batch id in `provider_batches`
 * before anything else happens, so a restart polls the same batch and never submits a chunk twice.
 */

/** What one item's request is built from (the item chain's inputs, rendered). */
export interface BatchItemInput {
  /** The batch item id: the request's `custom_id`. */
  itemId: string;
  /** The whole rendered prompt; `prompt.startsWith(cachePrefix)`. */
  prompt: string;
  /** The static part of the prompt shared by the template's items (cacheable); '' when none. */
  cachePrefix: string;
  persona: PersonaRow;
  arc: EmotionalArcRow;
  topic: TopicRow;
  tier: Tier;
}

/** One line of a provider batch: what the provider's synchronous API would have been sent. */
export interface BatchRequestLine {
  customId: string;
  /** The provider's request body (Messages API params, chat completion body, or the offline input). */
  body: unknown;
}

/** The provider's own request counts (Anthropic's `request_counts`; OpenAI's mapped onto them). */
export interface ProviderBatchCounts {
  processing: number;
  succeeded: number;
  errored: number;
  canceled: number;
  expired: number;
}

/** Where a provider batch stands. `state` is normalised; `providerStatus` is the provider's word. */
export interface ProviderBatchStatus {
  id: string;
  /** `ended`: results can be read (Anthropic `ended`; OpenAI `completed`/`failed`/`expired`/`cancelled`). */
  state: 'in_progress' | 'canceling' | 'ended';
  providerStatus: string;
  counts: ProviderBatchCounts;
}

/** Token usage of one response, with the prompt cache's share. */
export interface BatchUsage {
  inputTokens: number;
  outputTokens: number;
  /** Anthropic `cache_creation_input_tokens` (0 when none). */
  cacheCreationInputTokens: number;
  /** Anthropic `cache_read_input_tokens`; OpenAI `prompt_tokens_details.cached_tokens` (0 when none). */
  cacheReadInputTokens: number;
}

/** One result line, by `custom_id`. */
export type BatchResultLine =
  | {
      customId: string;
      type: 'succeeded';
      model: string;
      usage: BatchUsage;
      /** What the model said, as text (kept in `failed_generations` when it is no valid conversation). */
      raw: string;
      /** The conversation, or why there is none (schema issues, a cut-off output). */
      check:
        | { ok: true; value: GeneratedConversation }
        | { ok: false; failureType: 'parse_error' | 'validation_error' | 'truncation'; message: string };
      /** USD, with the batch discount and the cache multipliers applied. */
      costUsd: number;
    }
  | {
      customId: string;
      type: 'errored';
      /** e.g. 'invalid_request_error' (the item fails with `message`), 'api_error', 'overloaded_error'. */
      errorType: string;
      message: string;
      /** True for errors no resubmission can fix (Anthropic `invalid_request_error`, OpenAI 4xx other than 408/409/429). */
      permanent: boolean;
    }
  | { customId: string; type: 'expired' | 'canceled' };

/** A provider's batch API. Every method rejects with a `GenerationError` (transient or permanent). */
export interface BatchProvider {
  /** The provider name, as `GENERATOR` spells it and `conversations.generator` records it. */
  readonly name: string;
  /** The model asked for. */
  readonly model: string;
  /** Most requests and bytes (of the request lines, as JSON) one provider batch may carry. */
  readonly limits: { maxRequests: number; maxBytes: number };
  /** The request line of one item (with the cache breakpoint after `cachePrefix` where the provider caches). */
  buildLine(input: BatchItemInput): BatchRequestLine;
  /** Submits one chunk; `chunkKey` is unique per chunk (kept in the provider's metadata where it has any). */
  create(lines: BatchRequestLine[], chunkKey: string, signal?: AbortSignal): Promise<ProviderBatchStatus>;
  /** Finds the batch an earlier attempt created for `chunkKey`, where the provider can search (OpenAI metadata); else undefined. */
  findByKey?(chunkKey: string, signal?: AbortSignal): Promise<ProviderBatchStatus | undefined>;
  get(id: string, signal?: AbortSignal): Promise<ProviderBatchStatus>;
  /** The results of an ended batch, one per request, in the provider's order. */
  results(id: string, signal?: AbortSignal): AsyncIterable<BatchResultLine>;
  cancel(id: string, signal?: AbortSignal): Promise<ProviderBatchStatus>;
}
