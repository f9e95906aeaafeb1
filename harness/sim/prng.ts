/** A source of uniform random numbers in [0, 1). */
export type Prng = () => number;

/**
 * mulberry32: a tiny seeded PRNG, so every random choice in the sim (relay timing, bounce,
 * database write times, device clocks) can be replayed from the run's seed.
 */
export function mulberry32(seed: number): Prng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
