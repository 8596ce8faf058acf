import seedrandom from 'seedrandom';

/** A seeded source of randomness for data, shuffling and initialisation seeds. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal N(0, 1). */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T>(items: T[]): T[];
  /** A fresh 31-bit seed (never 0) drawn from this stream, for seeding tfjs initialisers. */
  seed(): number;
}

export function createRng(seed: number | string): Rng {
  const uniform = seedrandom.alea(String(seed));
  let spareNormal: number | undefined;
  const rng: Rng = {
    next: () => uniform(),
    normal() {
      if (spareNormal !== undefined) {
        const value = spareNormal;
        spareNormal = undefined;
        return value;
      }
      // Box-Muller; 1 - u keeps the log argument in (0, 1].
      const u = 1 - uniform();
      const v = uniform();
      const radius = Math.sqrt(-2 * Math.log(u));
      spareNormal = radius * Math.sin(2 * Math.PI * v);
      return radius * Math.cos(2 * Math.PI * v);
    },
    int: (n) => Math.floor(uniform() * n),
    shuffle(items) {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(uniform() * (i + 1));
        [items[i], items[j]] = [items[j], items[i]];
      }
      return items;
    },
    seed() {
      // tfjs reads 0 as "no seed" (see tfSeed); 0x7fffffff is never drawn otherwise.
      const seed = Math.floor(uniform() * 0x7fffffff);
      return seed === 0 ? 0x7fffffff : seed;
    },
  };
  return rng;
}

/**
 * The seed to hand a tf random op for pmoe seed `seed`: tfjs reads a seed of 0 as "no seed" and
 * draws from Math.random, so runs with seed 0 were not reproducible. Seeds are >= 0, so -1 never
 * collides with another; every other seed is passed unchanged (their draws are as before).
 */
export function tfSeed(seed: number): number {
  return seed === 0 ? -1 : seed;
}
