import { z } from 'zod';

/** What one model costs, in USD per million tokens. */
export const ModelPrice = z.object({
  input: z.number({ error: 'expected USD per million input tokens' }).min(0, 'expected 0 or more USD'),
  output: z.number({ error: 'expected USD per million output tokens' }).min(0, 'expected 0 or more USD'),
});
export type ModelPrice = z.infer<typeof ModelPrice>;

/**
 * Prices by model name, e.g. `{ "my-model": { "input": 1, "output": 2 } }`: the shape of
 * `PRICE_TABLE_JSON`.
 */
export const PriceOverrides = z.record(z.string().min(1), ModelPrice);
export type PriceOverrides = z.infer<typeof PriceOverrides>;
