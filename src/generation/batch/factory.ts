import type { Config } from '../../config';
import { anthropicOptions, openAIOptions, type GeneratorConfig } from '../factory';
import { createAnthropicBatchProvider } from './anthropic-batch';
import { createOfflineBatchProvider } from './offline-batch';
import { createOpenAIBatchProvider } from './openai-batch';
import type { BatchProvider } from './provider-batch';

/** The settings {@link createBatchProvider} reads: the generator's, plus the offline batch latency. */
export type BatchProviderConfig = GeneratorConfig & Pick<Config, 'GENERATOR_BATCH_LATENCY_MS'>;

/**
 * The batch API of the generator `GENERATOR` names, for the provider-batch execution mode:
 * `offline` (batches in this process's memory, ending after `GENERATOR_BATCH_LATENCY_MS`, failing
 * at `GENERATOR_FAILURE_RATE`), `anthropic` (Message Batches, with the same model, max tokens,
 * temperature and `ANTHROPIC_CACHE_TTL` as the synchronous provider) or `openai` (Batch API, same
 * model and response format; `OPENAI_BASE_URL` must serve `/v1/files` and `/v1/batches`, which
 * OpenAI does and most compatible servers do not). Limits are the providers' own (see each file).
 */
export function createBatchProvider(config: BatchProviderConfig): BatchProvider {
  switch (config.GENERATOR) {
    case 'offline':
      return createOfflineBatchProvider({ latencyMs: config.GENERATOR_BATCH_LATENCY_MS, failureRate: config.GENERATOR_FAILURE_RATE });
    case 'anthropic':
      return createAnthropicBatchProvider(anthropicOptions(config));
    case 'openai':
      return createOpenAIBatchProvider(openAIOptions(config));
  }
}
