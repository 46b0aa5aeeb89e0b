/**
 * Small, dependency-free seeded randomness for reproducible synthetic data.
 * Not cryptographic: the point is that the same seed gives the same numbers on every machine.
 */

/**
 * 32-bit FNV-1a hash of a string's UTF-16 code units, as an unsigned integer.
 *
 * @example fnv1a32('item-1') // always the same uint32
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** A generator of numbers uniform in [0, 1). */
export type Random = () => number;

/** mulberry32: a fast 32-bit PRNG; the same seed always yields the same sequence. */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PRNG seeded by a string (FNV-1a of the string feeds mulberry32). */
export function seededRandom(seed: string): Random {
  return mulberry32(fnv1a32(seed));
}

/**
 * One number uniform in [0, 1) determined by the string alone.
 * Taken through mulberry32 rather than straight from the hash, because FNV-1a of
 * near-identical strings ("a:1", "a:2") is poorly spread in its high bits.
 */
export function unitFromString(seed: string): number {
  return seededRandom(seed)();
}

/** An integer uniform in [min, max] (both inclusive) drawn from `random`. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** One element of a non-empty list drawn from `random`. */
export function pick<T>(random: Random, items: readonly [T, ...T[]]): T {
  return items[Math.floor(random() * items.length)] ?? items[0];
}
