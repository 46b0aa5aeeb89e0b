import type { ModelPrice } from '../domain/prices';

/**
 * List prices (USD per million tokens, standard tier, no batch or cache discounts) from Anthropic's
 * and OpenAI's published price lists, November 2026. Prices change and models come out:
 * `PRICE_TABLE_JSON` overrides or extends this table without a release. Models with tiered or
 * unpublished prices (e.g. claude-haiku-5-5, "from $0.10") are left out on purpose: an unknown
 * model costs 0 with a warning, never a guessed price.
 */
export const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = Object.freeze({
  // Anthropic, current
  'claude-fable-5-2': { input: 8, output: 40 },
  'claude-fable-5-1': { input: 10, output: 50 },
  'claude-opus-5-5': { input: 4, output: 20 },
  'claude-sonnet-5-5': { input: 2, output: 10 },
  'claude-opus-5': { input: 5, output: 25 },
  'claude-sonnet-5': { input: 2, output: 10 },
  // Anthropic, legacy
  'claude-opus-4-6': { input: 5, output: 25 },
  'claude-sonnet-4-6': { input: 3, output: 15 },
  'claude-opus-4-5': { input: 5, output: 25 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-opus-4-0': { input: 15, output: 75 },
  'claude-opus-4': { input: 15, output: 75 },
  'claude-sonnet-4-0': { input: 3, output: 15 },
  'claude-sonnet-4': { input: 3, output: 15 },
  'claude-3-7-sonnet': { input: 3, output: 15 },
  'claude-3-5-haiku': { input: 0.8, output: 4 },
  'claude-3-haiku': { input: 0.25, output: 1.25 },
  // OpenAI
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'gpt-5': { input: 1.25, output: 10 },
  'gpt-5-mini': { input: 0.25, output: 2 },
  'gpt-5-nano': { input: 0.05, output: 0.4 },
  // The offline generator calls no model.
  'offline-synthetic-v1': { input: 0, output: 0 },
});

/** Average tokens of one item's prompt, for estimates before any item has run. */
const DEFAULT_AVG_INPUT_TOKENS = 1200;
/** Average tokens of one generated conversation, for estimates before any item has run. */
const DEFAULT_AVG_OUTPUT_TOKENS = 1500;

/** Digits of `conversations.cost_usd` (numeric(12,6)); costs are rounded to this. */
const COST_DECIMALS = 6;

/**
 * Snapshot suffixes a provider appends to a model alias: `claude-sonnet-4-5-20250929`,
 * `gpt-4o-2024-08-06`, `claude-3-7-sonnet-latest`. Only these fall back to the alias's price; any
 * other suffix (`gpt-5-pro`) is a different model and must be priced on its own.
 */
const SNAPSHOT_SUFFIX = /-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$/;

/** Prices by model, with the default table, overrides and a once-per-model warning for unknown ones. */
export interface PriceTable {
  /** The price of `model` (or of its alias without a snapshot suffix), or undefined if unknown. */
  priceOf(model: string): ModelPrice | undefined;
  /**
   * USD for the given usage, rounded to 6 decimals; 0 for an unknown model, which is
   * warned about once per table and model.
   *
   * @example prices.costUsd('claude-sonnet-4-5', 1000, 2000) // 0.033 (3 x 0.001 + 15 x 0.002)
   */
  costUsd(model: string, inputTokens: number, outputTokens: number): number;
}

/**
 * Builds a {@link PriceTable}: {@link DEFAULT_PRICES}, then `overrides` (from `PRICE_TABLE_JSON`)
 * on top. `warn` is told once per unknown model (default: `process.emitWarning`).
 */
export function createPriceTable(
  overrides: Readonly<Record<string, ModelPrice>> = {},
  warn: (message: string) => void = (message) => process.emitWarning(message, { code: 'BULKGEN_UNKNOWN_MODEL_PRICE' }),
): PriceTable {
  const prices = new Map<string, ModelPrice>(Object.entries({ ...DEFAULT_PRICES, ...overrides }));
  const warned = new Set<string>();
  const priceOf = (model: string): ModelPrice | undefined =>
    prices.get(model) ?? (SNAPSHOT_SUFFIX.test(model) ? prices.get(model.replace(SNAPSHOT_SUFFIX, '')) : undefined);
  return {
    priceOf,
    costUsd(model, inputTokens, outputTokens) {
      const price = priceOf(model);
      if (!price) {
        if (!warned.has(model)) {
          warned.add(model);
          warn(
            `no price known for model '${model}': its cost is recorded as 0; add it to PRICE_TABLE_JSON, e.g. {"${model}":{"input":1,"output":2}}`,
          );
        }
        return 0;
      }
      return roundUsd((inputTokens * price.input + outputTokens * price.output) / 1_000_000);
    },
  };
}

/**
 * The cost of a batch before it runs: `items` x the cost of an average item
 * (`avgInputTokens` in, `avgOutputTokens` out) on `model`. 0 for an unknown model.
 *
 * @example estimateBatchCostUsd('claude-sonnet-4-5', 100) // 2.61 (100 x (1200 x 3 + 1500 x 15) / 1e6)
 */
export function estimateBatchCostUsd(
  model: string,
  items: number,
  avgInputTokens: number = DEFAULT_AVG_INPUT_TOKENS,
  avgOutputTokens: number = DEFAULT_AVG_OUTPUT_TOKENS,
  prices: PriceTable = defaultPriceTable(),
): number {
  return items <= 0 ? 0 : prices.costUsd(model, items * avgInputTokens, items * avgOutputTokens);
}

let sharedDefault: PriceTable | undefined;
/** One default table per process, so an unknown model is warned about once. */
function defaultPriceTable(): PriceTable {
  sharedDefault ??= createPriceTable();
  return sharedDefault;
}

function roundUsd(value: number): number {
  return Number(value.toFixed(COST_DECIMALS));
}
