import type { Config } from '../config';
import { createAnthropicGenerator } from './anthropic';
import { createOfflineGenerator } from './offline';
import { createOpenAIGenerator } from './openai';
import { createPriceTable, type PriceTable } from './pricing';
import type { ConversationGenerator } from './provider';

/** The settings {@link createGenerator} reads. */
export type GeneratorConfig = Pick<
  Config,
  | 'GENERATOR'
  | 'GENERATOR_LATENCY_MS'
  | 'GENERATOR_FAILURE_RATE'
  | 'ANTHROPIC_API_KEY'
  | 'ANTHROPIC_BASE_URL'
  | 'ANTHROPIC_MODEL'
  | 'ANTHROPIC_MAX_TOKENS'
  | 'ANTHROPIC_TEMPERATURE'
  | 'ANTHROPIC_CACHE_TTL'
  | 'OPENAI_API_KEY'
  | 'OPENAI_BASE_URL'
  | 'OPENAI_MODEL'
  | 'OPENAI_RESPONSE_FORMAT'
  | 'PRICE_TABLE_JSON'
>;

/**
 * The generator `GENERATOR` names: `offline` (synthetic, no model), `anthropic` (Messages API) or
 * `openai` (OpenAI or a compatible server at `OPENAI_BASE_URL`). Real providers price their usage
 * with the built-in table plus `PRICE_TABLE_JSON`.
 */
export function createGenerator(config: GeneratorConfig): ConversationGenerator {
  switch (config.GENERATOR) {
    case 'offline':
      return createOfflineGenerator({ latencyMs: config.GENERATOR_LATENCY_MS, failureRate: config.GENERATOR_FAILURE_RATE });
    case 'anthropic':
      return createAnthropicGenerator(anthropicOptions(config));
    case 'openai':
      return createOpenAIGenerator(openAIOptions(config));
  }
}

/** The `anthropic` provider's settings from `ANTHROPIC_*` (the synchronous provider and its batch API take the same). */
export function anthropicOptions(config: GeneratorConfig) {
  return {
    ...(config.ANTHROPIC_API_KEY === undefined ? {} : { apiKey: config.ANTHROPIC_API_KEY }),
    ...(config.ANTHROPIC_BASE_URL === undefined ? {} : { baseURL: config.ANTHROPIC_BASE_URL }),
    model: config.ANTHROPIC_MODEL,
    maxTokens: config.ANTHROPIC_MAX_TOKENS,
    ...(config.ANTHROPIC_TEMPERATURE === undefined ? {} : { temperature: config.ANTHROPIC_TEMPERATURE }),
    cacheTtl: config.ANTHROPIC_CACHE_TTL,
    prices: priceTableFor(config),
  };
}

/** The `openai` provider's settings from `OPENAI_*` (the synchronous provider and its batch API take the same). */
export function openAIOptions(config: GeneratorConfig) {
  return {
    ...(config.OPENAI_API_KEY === undefined ? {} : { apiKey: config.OPENAI_API_KEY }),
    ...(config.OPENAI_BASE_URL === undefined ? {} : { baseURL: config.OPENAI_BASE_URL }),
    model: config.OPENAI_MODEL,
    responseFormat: config.OPENAI_RESPONSE_FORMAT,
    prices: priceTableFor(config),
  };
}

/** The built-in prices with `PRICE_TABLE_JSON` on top. */
export function priceTableFor(config: Pick<Config, 'PRICE_TABLE_JSON'>): PriceTable {
  return createPriceTable(config.PRICE_TABLE_JSON ?? {});
}

/**
 * The model the configured generator asks for: what a cost estimate should price
 * (`offline-synthetic-v1`, priced at 0, for the offline generator).
 */
export function configuredModel(config: Pick<Config, 'GENERATOR' | 'ANTHROPIC_MODEL' | 'OPENAI_MODEL'>): string {
  switch (config.GENERATOR) {
    case 'anthropic':
      return config.ANTHROPIC_MODEL;
    case 'openai':
      return config.OPENAI_MODEL;
    case 'offline':
      return 'offline-synthetic-v1';
  }
}
