import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { configuredModel, priceTableFor } from '../../../src/generation/factory';
import { createPriceTable, DEFAULT_PRICES, estimateBatchCostUsd } from '../../../src/generation/pricing';

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
});
