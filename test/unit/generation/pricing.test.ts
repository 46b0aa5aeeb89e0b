import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { configuredModel, priceTableFor } from '../../../src/generation/factory';
import {
  createPriceTable,
  DEFAULT_PRICES,
  estimateBatchCostUsd,
  estimateTokens,
  minCacheableTokens,
} from '../../../src/generation/pricing';

const usage = (inputTokens: number, outputTokens: number, cacheCreationInputTokens = 0, cacheReadInputTokens = 0) => ({
  inputTokens,
  outputTokens,
  cacheCreationInputTokens,
  cacheReadInputTokens,
});

describe('pricing', () => {
  it('prices the models named in the table, in USD per million tokens', () => {
    const prices = createPriceTable({}, () => {});
    expect(prices.costUsd('claude-sonnet-4-5', 1_000_000, 1_000_000)).toBe(18);
    expect(prices.costUsd('claude-haiku-4-5', 1_000_000, 0)).toBe(1);
    expect(prices.costUsd('claude-opus-4-1', 0, 1_000_000)).toBe(75);
    expect(prices.costUsd('gpt-4o-mini', 1000, 2000)).toBe(0.00135);
    expect(prices.costUsd('gpt-4o', 1_000_000, 1_000_000)).toBe(12.5);
    expect(prices.costUsd('offline-synthetic-v1', 5000, 5000)).toBe(0);
  });

  it('a snapshot name falls back to its alias; any other suffix is a different model', () => {
    const prices = createPriceTable({}, () => {});
    expect(prices.priceOf('claude-sonnet-4-5-20250929')).toEqual(DEFAULT_PRICES['claude-sonnet-4-5']);
    expect(prices.priceOf('gpt-4o-2024-08-06')).toEqual(DEFAULT_PRICES['gpt-4o']);
    expect(prices.priceOf('gpt-4o-mini-2024-07-18')).toEqual(DEFAULT_PRICES['gpt-4o-mini']);
    expect(prices.priceOf('gpt-5-pro')).toBeUndefined();
  });

  it('an unknown model costs 0 with one warning per model', () => {
    const warnings: string[] = [];
    const prices = createPriceTable({}, (w) => warnings.push(w));
    expect(prices.costUsd('mystery-1', 100, 100)).toBe(0);
    expect(prices.costUsd('mystery-1', 100, 100)).toBe(0);
    expect(prices.costUsd('mystery-2', 100, 100)).toBe(0);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain("'mystery-1'");
  });

  it('PRICE_TABLE_JSON adds models and overrides built-in prices', () => {
    const config = loadConfig({ PRICE_TABLE_JSON: '{"my-model":{"input":1,"output":2},"gpt-4o":{"input":1,"output":1}}' });
    const prices = priceTableFor(config);
    expect(prices.costUsd('my-model', 1_000_000, 1_000_000)).toBe(3);
    expect(prices.costUsd('gpt-4o', 1_000_000, 1_000_000)).toBe(2);
    expect(prices.costUsd('claude-haiku-4-5', 1_000_000, 1_000_000)).toBe(6);
  });

  it('a malformed PRICE_TABLE_JSON fails at start-up, naming the variable', () => {
    expect(() => loadConfig({ PRICE_TABLE_JSON: '{not json' })).toThrow(/PRICE_TABLE_JSON: expected JSON/);
    expect(() => loadConfig({ PRICE_TABLE_JSON: '{"m":{"input":"cheap","output":1}}' })).toThrow(/PRICE_TABLE_JSON\.m\.input/);
  });

  it('estimateBatchCostUsd: items x an average item (1200 in, 1500 out by default)', () => {
    expect(estimateBatchCostUsd('claude-sonnet-4-5', 100)).toBe(2.61);
    expect(estimateBatchCostUsd('gpt-4o-mini', 1000, 1000, 1000)).toBe(0.75);
    expect(estimateBatchCostUsd('claude-sonnet-4-5', 0)).toBe(0);
    expect(estimateBatchCostUsd('my-model', 10, 1000, 1000, createPriceTable({ 'my-model': { input: 1, output: 2 } }))).toBe(0.03);
  });

  it('configuredModel names what the configured generator asks for', () => {
    expect(configuredModel(loadConfig({}))).toBe('offline-synthetic-v1');
    expect(configuredModel(loadConfig({ GENERATOR: 'anthropic', ANTHROPIC_API_KEY: 'k', ANTHROPIC_MODEL: 'claude-haiku-4-5' }))).toBe(
      'claude-haiku-4-5',
    );
    expect(configuredModel(loadConfig({ GENERATOR: 'openai', OPENAI_API_KEY: 'k' }))).toBe('gpt-4o-mini');
  });

  it('costOf: uncached input, cache writes (1.25x 5m, 2x 1h), cache reads (0.1x), output; batch halves it all', () => {
    const prices = createPriceTable({}, () => {});
    // claude-sonnet-4-5 at 3 / 15 USD per million: 1M uncached in, 1M out = 18
    expect(prices.costOf('claude-sonnet-4-5', usage(1_000_000, 1_000_000), { batch: false })).toBe(18);
    expect(prices.costOf('claude-sonnet-4-5', usage(1_000_000, 1_000_000), { batch: true })).toBe(9);
    // 1M written at 5m: 3.75; at 1h: 6; 1M read: 0.30
    expect(prices.costOf('claude-sonnet-4-5', usage(0, 0, 1_000_000), { batch: false })).toBe(3.75);
    expect(prices.costOf('claude-sonnet-4-5', usage(0, 0, 1_000_000), { batch: false, cacheTtl: '1h' })).toBe(6);
    expect(prices.costOf('claude-sonnet-4-5', usage(0, 0, 0, 1_000_000), { batch: false })).toBe(0.3);
    // A typical batch item: 300 in, 4000 written (1h), 1500 out, in a batch:
    // 0.5 x (300 x 3 + 4000 x 6 + 1500 x 15) / 1e6 = 0.5 x 0.0474 = 0.0237
    expect(prices.costOf('claude-sonnet-4-5', usage(300, 1500, 4000), { batch: true, cacheTtl: '1h' })).toBe(0.0237);
    // ... and a later one reading those 4000: 0.5 x (900 + 4000 x 0.3 + 22500) / 1e6 = 0.0123
    expect(prices.costOf('claude-sonnet-4-5', usage(300, 1500, 0, 4000), { batch: true, cacheTtl: '1h' })).toBe(0.0123);
    // costUsd is costOf without cache or batch
    expect(prices.costUsd('claude-sonnet-4-5', 1000, 2000)).toBe(prices.costOf('claude-sonnet-4-5', usage(1000, 2000), { batch: false }));
  });

  it("costOf: OpenAI cached input at the table's cachedInput (gpt-4o 0.5x, gpt-4.1 0.25x, gpt-5 0.1x); an override without one reads at 0.1x", () => {
    const prices = createPriceTable({ 'my-model': { input: 10, output: 0 } }, () => {});
    expect(prices.costOf('gpt-4o', usage(0, 0, 0, 1_000_000), { batch: false })).toBe(1.25);
    expect(prices.costOf('gpt-4o-mini-2024-07-18', usage(1_000_000, 1_000_000, 0, 1_000_000), { batch: true })).toBe(0.4125);
    expect(prices.costOf('gpt-4.1', usage(0, 0, 0, 1_000_000), { batch: false })).toBe(0.5);
    expect(prices.costOf('gpt-5', usage(0, 0, 0, 1_000_000), { batch: false })).toBe(0.125);
    expect(prices.costOf('my-model', usage(0, 0, 0, 1_000_000), { batch: false })).toBe(1);
    expect(loadConfig({ PRICE_TABLE_JSON: '{"m":{"input":1,"output":2,"cachedInput":0.5}}' }).PRICE_TABLE_JSON).toEqual({
      m: { input: 1, output: 2, cachedInput: 0.5 },
    });
  });

  it('costOf: an unknown model costs 0, warned once (shared with costUsd)', () => {
    const warnings: string[] = [];
    const prices = createPriceTable({}, (w) => warnings.push(w));
    expect(prices.costOf('mystery-3', usage(100, 100, 100, 100), { batch: true })).toBe(0);
    expect(prices.costUsd('mystery-3', 100, 100)).toBe(0);
    expect(warnings).toHaveLength(1);
  });

  it('minCacheableTokens: the published minimums per model, snapshots by their alias, 4096 when unknown', () => {
    expect(minCacheableTokens('claude-sonnet-4-5')).toBe(1024);
    expect(minCacheableTokens('claude-sonnet-4-5-20250929')).toBe(1024);
    expect(minCacheableTokens('claude-sonnet-5-5')).toBe(1024);
    expect(minCacheableTokens('claude-opus-4-1')).toBe(1024);
    expect(minCacheableTokens('claude-opus-4-5')).toBe(4096);
    expect(minCacheableTokens('claude-haiku-4-5')).toBe(4096);
    expect(minCacheableTokens('claude-3-5-haiku')).toBe(2048);
    expect(minCacheableTokens('gpt-4o-mini')).toBe(1024);
    expect(minCacheableTokens('claude-fable-5-2')).toBe(4096);
    expect(minCacheableTokens('mystery-1')).toBe(4096);
  });

  it('estimateTokens: ceil(characters / 4)', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
    expect(estimateTokens('x'.repeat(4096))).toBe(1024);
  });
});
