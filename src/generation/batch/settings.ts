import type { Config } from '../../config';
import { createBatchProvider, type BatchProviderConfig } from './factory';

/** The settings a worker's provider-batch activities run by (PROVIDER_BATCH_*), with the generator's batch API. */
export function providerBatchDeps(
  config: BatchProviderConfig &
    Pick<
      Config,
      | 'PROVIDER_BATCH_CHUNK_SIZE'
      | 'PROVIDER_BATCH_MAX_OPEN'
      | 'PROVIDER_BATCH_POLL_MIN_MS'
      | 'PROVIDER_BATCH_POLL_MAX_MS'
      | 'PROVIDER_BATCH_FALLBACK_AFTER_MS'
    >,
) {
  return {
    provider: createBatchProvider(config),
    chunkSize: config.PROVIDER_BATCH_CHUNK_SIZE,
    fallbackAfterMs: config.PROVIDER_BATCH_FALLBACK_AFTER_MS,
    settings: {
      maxChunksOut: config.PROVIDER_BATCH_MAX_OPEN,
      pollMinMs: config.PROVIDER_BATCH_POLL_MIN_MS,
      pollMaxMs: Math.max(config.PROVIDER_BATCH_POLL_MIN_MS, config.PROVIDER_BATCH_POLL_MAX_MS),
    },
  };
}
