import type { Config } from '../config';
import { itemCount, type StartBatchRequest } from '../domain/batch-request';
import { MAX_ITEMS_PER_BATCH } from '../domain/limits';
import { BulkgenError } from '../errors';
import { configuredModel, priceTableFor } from '../generation/factory';
import { estimateBatchCostUsd } from '../generation/pricing';

/** Seconds one item takes when the generator gives no better figure (a real model's reply). */
const MODEL_SECONDS_PER_ITEM = 20;

/** What the estimate needs from the configuration: the generator, its model and the price table. */
export type EstimateConfig = Pick<Config, 'GENERATOR' | 'GENERATOR_LATENCY_MS' | 'ANTHROPIC_MODEL' | 'OPENAI_MODEL' | 'PRICE_TABLE_JSON'>;

/** A batch's size and first estimate, as POST /v1/batches and POST /v1/batches/estimate answer them. */
export interface BatchEstimate {
  totalItems: number;
  /** USD, from the configured model's price table entry. */
  estimatedCost: number;
  estimatedTimeSeconds: number;
}

/** A first ETA for a new batch: items / concurrency x time per item. */
export function estimateSeconds(config: Pick<Config, 'GENERATOR' | 'GENERATOR_LATENCY_MS'>, items: number, concurrency: number): number {
  const perItem = config.GENERATOR === 'offline' ? Math.max(config.GENERATOR_LATENCY_MS, 20) / 1000 : MODEL_SECONDS_PER_ITEM;
  return Math.ceil((items / Math.max(1, concurrency)) * perItem);
}

/** Cost and time of `totalItems` items at `concurrency`, with the same price table submission uses. */
export function estimateItems(config: EstimateConfig, totalItems: number, concurrency: number): BatchEstimate {
  return {
    totalItems,
    estimatedCost: estimateBatchCostUsd(configuredModel(config), totalItems, undefined, undefined, priceTableFor(config)),
    estimatedTimeSeconds: estimateSeconds(config, totalItems, concurrency),
  };
}

/**
 * The estimate of a parsed start request, creating nothing.
 *
 * @throws TOO_MANY_ITEMS over {@link MAX_ITEMS_PER_BATCH}, as submission does
 */
export function estimateBatch(config: EstimateConfig, req: StartBatchRequest): BatchEstimate {
  const count = itemCount(req);
  if (count > MAX_ITEMS_PER_BATCH) throw new BulkgenError('TOO_MANY_ITEMS', { max: MAX_ITEMS_PER_BATCH, count });
  return estimateItems(config, count, req.concurrentProcessing);
}
