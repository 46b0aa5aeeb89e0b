import type { Config } from '../config';
import { BulkgenError } from '../errors';
import { createOfflineGenerator } from './offline';
import type { ConversationGenerator } from './provider';

/**
 * The generator `GENERATOR` names. Only `offline` ships in this build: the
 * Anthropic and OpenAI-compatible providers are not written yet, and asking
 * for them is a start-up error rather than a silent fallback.
 */
export function createGenerator(config: Pick<Config, 'GENERATOR' | 'GENERATOR_LATENCY_MS' | 'GENERATOR_FAILURE_RATE'>): ConversationGenerator {
  if (config.GENERATOR === 'offline') {
    return createOfflineGenerator({ latencyMs: config.GENERATOR_LATENCY_MS, failureRate: config.GENERATOR_FAILURE_RATE });
  }
  throw new BulkgenError('CONFIG_INVALID', {
    detail: `GENERATOR: '${config.GENERATOR}' is not available in this build yet; use 'offline'`,
  });
}
