/** Fresh random inputs for every run; the seed is printed so a failure can be replayed. */
import { createRng, type Rng } from '../../src/util/random.js';

export function freshRng(label: string): Rng {
  const seed = process.env.PMOE_TEST_SEED ?? String(Date.now() ^ Math.floor(Math.random() * 1e9));
  process.stdout.write(`# ${label}: PMOE_TEST_SEED=${seed}\n`);
  return createRng(`${seed}:${label}`);
}

export function gaussian(rng: Rng, length: number, std = 1): Float64Array {
  return Float64Array.from({ length }, () => rng.normal() * std);
}
