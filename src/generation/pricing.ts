import type { ModelPrice } from '../domain/prices';
import type { BatchUsage } from './batch/provider-batch';

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
  // OpenAI, with the published cached-input price (0.5x input for gpt-4o, 0.25x for gpt-4.1, 0.1x for gpt-5)
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075 },
  'gpt-4.1': { input: 2, output: 8, cachedInput: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cachedInput: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cachedInput: 0.025 },
  'gpt-5': { input: 1.25, output: 10, cachedInput: 0.125 },
  'gpt-5-mini': { input: 0.25, output: 2, cachedInput: 0.025 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cachedInput: 0.005 },
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

/** How long Anthropic keeps a prompt-cache entry (`cache_control.ttl`); it sets the price of a cache write. */
export type CacheTtl = '5m' | '1h';

/**
 * Price multipliers on a model's `input` price, from Anthropic's pricing page: a cache write costs
 * 1.25x input with the 5-minute TTL and 2x with the 1-hour TTL; a cache read 0.1x (used only when
 * the model's price has no `cachedInput`, as OpenAI's prices in {@link DEFAULT_PRICES} do). A batch
 * API (Anthropic Message Batches, OpenAI Batch API) halves every token price, stacking with these.
 */
export const PRICE_MULTIPLIERS = Object.freeze({
  cacheWrite: Object.freeze({ '5m': 1.25, '1h': 2 } as const),
  cacheRead: 0.1,
  batch: 0.5,
});

/** How a usage was bought: through a batch API or not, and the TTL its cache writes had. */
export interface PricingMode {
  batch: boolean;
  /** Default '5m'. Only matters when `cacheCreationInputTokens` is above 0 (Anthropic). */
  cacheTtl?: CacheTtl;
}

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
  /**
   * USD for one response's usage with the prompt cache and the batch discount, rounded to 6
   * decimals: `inputTokens` (uncached input only) at `input`, cache writes at 1.25x (5m) or 2x (1h)
   * `input`, cache reads at `cachedInput` (else 0.1x `input`), output at `output`, all halved when
   * `mode.batch`. 0 for an unknown model, warned about once, as {@link PriceTable.costUsd}.
   *
   * @example prices.costOf('claude-sonnet-4-5', { inputTokens: 1000, outputTokens: 2000, cacheCreationInputTokens: 0, cacheReadInputTokens: 10000 }, { batch: true }) // 0.018 (0.5 x (0.003 + 0.003 + 0.03))
   */
  costOf(model: string, usage: BatchUsage, mode: PricingMode): number;
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
  const knownPrice = (model: string): ModelPrice | undefined => {
    const price = priceOf(model);
    if (!price && !warned.has(model)) {
      warned.add(model);
      warn(
        `no price known for model '${model}': its cost is recorded as 0; add it to PRICE_TABLE_JSON, e.g. {"${model}":{"input":1,"output":2}}`,
      );
    }
    return price;
  };
  return {
    priceOf,
    costUsd(model, inputTokens, outputTokens) {
      const price = knownPrice(model);
      return price ? roundUsd((inputTokens * price.input + outputTokens * price.output) / 1_000_000) : 0;
    },
    costOf(model, usage, mode) {
      const price = knownPrice(model);
      return price ? roundUsd(usageCost(price, usage, mode) / 1_000_000) : 0;
    },
  };
}

/** USD x 1e6 of `usage` at `price` (see {@link PriceTable.costOf}), unrounded. */
function usageCost(price: ModelPrice, usage: BatchUsage, mode: PricingMode): number {
  const writeMultiplier = PRICE_MULTIPLIERS.cacheWrite[mode.cacheTtl ?? '5m'];
  const cachedInput = price.cachedInput ?? price.input * PRICE_MULTIPLIERS.cacheRead;
  const full =
    usage.inputTokens * price.input +
    usage.cacheCreationInputTokens * price.input * writeMultiplier +
    usage.cacheReadInputTokens * cachedInput +
    usage.outputTokens * price.output;
  return mode.batch ? full * PRICE_MULTIPLIERS.batch : full;
}

/**
 * Rough token count of `text`: ceil(characters / 4), the rule of thumb both providers publish for
 * English text. No tokenizer package: the providers' tokenizers are not public (Anthropic's) or
 * heavy (tiktoken's WASM), and this is only used to flag a cache prefix that is clearly too short
 * and to estimate offline usage, where an error of some 20% does not matter.
 *
 * @example estimateTokens('abcdefghi') // 3
 */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * The fewest tokens Anthropic caches at a breakpoint for `model` (a shorter prefix is silently not
 * cached: both cache counters stay 0). From Anthropic's prompt-caching page: 4096 for Opus 4.5 to
 * 4.7 and Haiku 4.5; 2048 for Haiku 3 and 3.5; 1024 for every Sonnet and for Opus 4 and 4.1.
 * Generation-5 models other than Sonnet have no agreed published figure yet (sources differ from
 * 512 to 2048), so they and unknown models get 4096, the largest known: a prefix is never claimed
 * cacheable when it may not be. OpenAI caches prompts of 1024 tokens and more, for every model.
 */
export function minCacheableTokens(model: string): number {
  const name = model.replace(SNAPSHOT_SUFFIX, '');
  for (const [pattern, tokens] of MIN_CACHEABLE) if (pattern.test(name)) return tokens;
  return MIN_CACHEABLE_UNKNOWN;
}

const MIN_CACHEABLE_UNKNOWN = 4096;
const MIN_CACHEABLE: ReadonlyArray<readonly [RegExp, number]> = [
  [/^(gpt-|o\d)/, 1024],
  [/^claude-(opus-4-[567])/, 4096],
  [/^claude-haiku-4/, 4096],
  [/^claude-(3-haiku|3-5-haiku)/, 2048],
  [/^claude-(sonnet-|3-7-sonnet|3-5-sonnet)/, 1024],
  [/^claude-opus-4(-0|-1)?$/, 1024],
];

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
