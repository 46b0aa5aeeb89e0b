import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chaosCases, formatTable, runCase, type ChaosResult } from './cases';
import { ChaosStack } from './harness';

// The short set of `npm run chaos` (CI): real faults on a stack of this file's own (test/chaos/harness.ts).
describe('chaos: real faults under a running batch', () => {
  const stack = new ChaosStack({ GENERATOR_LATENCY_MS: '400' });
  const results: ChaosResult[] = [];

  beforeAll(() => stack.start(), 180_000);
  afterAll(async () => {
    await stack.stop();
    if (results.length > 0) process.stderr.write(`${formatTable(results)}\n`);
  }, 60_000);

  for (const c of chaosCases(false)) {
    const outcome =
      c.outcome === 'cancelled' ? 'the job ends cancelled, every item completed or cancelled' : 'the batch completes, 0 items failed';
    it(`${c.name}: ${outcome}, one conversation per item, counters exact`, async () => {
      const r = await runCase(stack, c);
      results.push(r);
      expect(r.problems).toEqual([]);
      expect(r.failed).toBe(0);
      expect(r.duplicates).toBe(0);
    });
  }
});
