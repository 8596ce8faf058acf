/**
 * The pair atlas: where separate training's linear router finds the discriminative patch. Its
 * router scores each patch linearly (eq. 6), so whether the class item outranks the fillers depends
 * on which two digits are the classes and which fill the other cells. For every pair of digits
 * (45 pairs) as the two classes, the other eight as fillers, the CNN, separate and joint pMoE are
 * trained at Figure 4's setting (4x4 grids, SGD lr 0.2, batch 20, 150 epochs, router phase 100
 * epochs; separate 2 x 20 neurons with l = 2, joint 8 x 5 with l = 6, CNN 40 neurons).
 *
 *   pmoe reproduce pair-atlas            45 pairs x N = 300, 1000 x 3 models x 3 seeds (810 runs)
 *   pmoe reproduce pair-atlas --quick    3 pairs, N = 300, 1 seed, 20 epochs
 *
 * Pair (a, b) with a < b puts the larger digit in class 0 (y = +1), so pair (0, 1) is exactly
 * Figure 4's construction (1 vs 0). Test accuracy and the routing rate are read once, after the
 * last epoch (evalEvery defaults to the epochs): the atlas needs final numbers only.
 */
import { z } from 'zod';
import { integer } from '../util/options.js';
import { defineExperiment } from './definition.js';
import { checkConstruction, MNIST_PROTOCOL, modelList, mnistRun, mnistRunProblem } from './mnist-experiments.js';

export const PAIR_ATLAS_EXPERIMENT = 'pair-atlas';

/** Every unordered pair of distinct digits 0..9, (a, b) with a < b, in order. */
export const DIGIT_PAIRS: readonly (readonly [number, number])[] = Array.from({ length: 10 }, (_, a) =>
  Array.from({ length: 9 - a }, (_, i) => [a, a + 1 + i] as const),
).flat();

/** The construction of pair (a, b): the larger digit is class 0, the smaller class 1, the other eight fill. */
export function pairConstruction([a, b]: readonly [number, number]): { discriminativeDigits: number[]; fillDigits: number[] } {
  const low = Math.min(a, b);
  const high = Math.max(a, b);
  return { discriminativeDigits: [high, low], fillDigits: Array.from({ length: 10 }, (_, d) => d).filter((d) => d !== a && d !== b) };
}

const digit = integer(0, 9);
const pairSchema = z
  .tuple([digit, digit], { error: 'must be a pair of digits [a, b]' })
  .refine(([a, b]) => a !== b, { message: 'must be two different digits' });

// The atlas sets the construction per pair; the grid size can still change.
const { discriminativeDigits: _d, fillDigits: _f, ...protocol } = MNIST_PROTOCOL;

export const pairAtlasSchema = z
  .object({
    ...protocol,
    seeds: integer(1).default(3),
    /** Evaluate after the last epoch only (the atlas reads final numbers). */
    evalEvery: integer(1).default(150),
    sizes: z.array(integer(2)).min(1).default([300, 1000]),
    pairs: z
      .array(pairSchema)
      .min(1)
      .default(() => DIGIT_PAIRS.map(([a, b]) => [a, b] as [number, number])),
    models: modelList,
  })
  .strict()
  .superRefine(checkConstruction);

export const pairAtlas = defineExperiment({
  name: PAIR_ATLAS_EXPERIMENT,
  description:
    "Pair atlas: every pair of digits as the two classes (45 pairs, the other eight fill), CNN, separate and joint pMoE at Figure 4's setting, N = 300 and 1000 (pmoe reproduce pair-atlas)",
  schema: pairAtlasSchema,
  quick: {
    pairs: [
      [0, 1],
      [4, 9],
      [3, 5],
    ],
    sizes: [300],
    seeds: 1,
    epochs: 20,
    routerEpochs: 20,
    evalEvery: 20,
  },
  specs(o) {
    const seeds = Array.from({ length: o.seeds }, (_, i) => i);
    return distinctPairs(o.pairs).flatMap((pair) => {
      const settings = { ...o, ...pairConstruction(pair) };
      return o.sizes.flatMap((N) => o.models.flatMap((model) => seeds.map((seed) => mnistRun(settings, model, N, seed))));
    });
  },
  runCount: (o) => distinctPairs(o.pairs).length * o.sizes.length * o.models.length * o.seeds,
  runProblem: mnistRunProblem(PAIR_ATLAS_EXPERIMENT, ['cnn', 'separate', 'joint']),
});

/** The pairs with [a, b] and [b, a] counted once, in first-seen order. */
function distinctPairs(pairs: readonly (readonly [number, number])[]): (readonly [number, number])[] {
  return [...new Map(pairs.map(([a, b]) => [`${Math.min(a, b)}-${Math.max(a, b)}`, [a, b] as const])).values()];
}
