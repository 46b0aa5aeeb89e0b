import { z } from 'zod';

/** What one model costs, in USD per million tokens. */
export const ModelPrice = z.object({
  input: z.number({ error: 'expected USD per million input tokens' }).min(0, 'expected 0 or more USD'),
  output: z.number({ error: 'expected USD per million output tokens' }).min(0, 'expected 0 or more USD'),
  /**
   * USD per million input tokens read from the prompt cache (OpenAI "cached input"). Optional:
   * when absent, a cache read costs 0.1x `input` (Anthropic's rule for every model).
   */
  cachedInput: z.number({ error: 'expected USD per million cached input tokens' }).min(0, 'expected 0 or more USD').optional(),
});
export type ModelPrice = z.infer<typeof ModelPrice>;

/**
 * Prices by model name, e.g. `{ "my-model": { "input": 1, "output": 2 } }`: the shape of
 * `PRICE_TABLE_JSON`.
 */
export const PriceOverrides = z.record(z.string().min(1), ModelPrice);
export type PriceOverrides = z.infer<typeof PriceOverrides>;
