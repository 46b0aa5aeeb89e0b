import { describe, expect, it } from 'vitest';
import { fnv1a32, mulberry32, pick, randomInt, seededRandom, unitFromString } from '../../../src/generation/prng';

describe('prng', () => {
  it('hashes with 32-bit FNV-1a', () => {
    // Published FNV-1a test vectors.
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('repeats a sequence for the same seed and differs for another', () => {
    const take = (seed: number) => {
      const random = mulberry32(seed);
      return Array.from({ length: 5 }, () => random());
    };
    expect(take(7)).toEqual(take(7));
    expect(take(7)).not.toEqual(take(8));
    expect(seededRandom('x')()).toBe(unitFromString('x'));
  });

  it('stays in [0, 1) and spreads evenly', () => {
    const random = seededRandom('spread');
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const bucket = Math.floor(random() * 10);
      buckets[bucket] = (buckets[bucket] ?? 0) + 1;
    }
    // Ten buckets exactly: nothing fell below 0 or reached 1.
    expect(buckets).toHaveLength(10);
    for (const count of buckets) expect(count).toBeGreaterThan(850);
  });

  it('draws integers within bounds and picks list elements', () => {
    const random = seededRandom('ints');
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(randomInt(random, 3, 6));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
    expect(['a', 'b', 'c']).toContain(pick(random, ['a', 'b', 'c']));
  });
});
