import type { Config } from '../config';

/** Seconds one item takes when the generator gives no better figure (a real model's reply). */
const MODEL_SECONDS_PER_ITEM = 20;

/** A first ETA for a new batch: items / concurrency x time per item. */
export function estimateSeconds(config: Pick<Config, 'GENERATOR' | 'GENERATOR_LATENCY_MS'>, items: number, concurrency: number): number {
  const perItem = config.GENERATOR === 'offline' ? Math.max(config.GENERATOR_LATENCY_MS, 20) / 1000 : MODEL_SECONDS_PER_ITEM;
  return Math.ceil((items / Math.max(1, concurrency)) * perItem);
}
