/**
 * Figure 6: joint pMoE test accuracy against the number of experts k = 4, 8, 12, 16, 20 at
 * N = 300, 400, 500 on MNIST-patch, with the CNN at N = 1000 as a reference line.
 *
 *   pmoe reproduce fig6            the whole protocol (5 k x 3 N x 5 seeds + 5 CNN runs)
 *   pmoe reproduce fig6 --quick    a reduced version that finishes in minutes
 *
 * The paper does not state the fixed l of this figure (docs/paper.md §6): pmoe uses l = 6, the joint
 * pMoE's l of Figure 4 (and the l at which Figure 7 peaks). Nor does it say how the width changes
 * with k: pmoe keeps 5 neurons per expert (Figure 4's 8 x 5), so the model grows with k. The rest
 * is the MNIST protocol of mnist-experiments.ts (SGD lr 0.2, batch 20, 150 epochs, 5 seeds,
 * 1000 test images, softmax over the selected l).
 */
import { z } from 'zod';
import { integer } from '../util/options.js';
import { defineExperiment } from './definition.js';
import { checkConstruction, MNIST_PROTOCOL, mnistRun, mnistRunProblem } from './mnist-experiments.js';

export const FIG6_DEFAULTS = {
  sizes: [300, 400, 500],
  experts: [4, 8, 12, 16, 20],
  patchesPerExpert: 6,
  neuronsPerExpert: 5,
  cnnSize: 1000,
} as const;

const schema = z
  .object({
    ...MNIST_PROTOCOL,
    sizes: z
      .array(integer(2))
      .min(1)
      .default([...FIG6_DEFAULTS.sizes]),
    experts: z
      .array(integer(1))
      .min(1)
      .default([...FIG6_DEFAULTS.experts]),
    /** l, fixed across k (not stated in the paper). */
    patchesPerExpert: integer(1).default(FIG6_DEFAULTS.patchesPerExpert),
    neuronsPerExpert: integer(1).default(FIG6_DEFAULTS.neuronsPerExpert),
    /** N of the CNN reference runs; 0 leaves the CNN out. */
    cnnSize: integer(0).default(FIG6_DEFAULTS.cnnSize),
  })
  .strict()
  .superRefine(checkConstruction);

export const fig6 = defineExperiment({
  name: 'fig6',
  description:
    'Figure 6: joint pMoE test accuracy against the number of experts k = 4..20 for N = 300, 400, 500 (l = 6), CNN at N = 1000 for reference (pmoe reproduce fig6)',
  schema,
  quick: { sizes: [300], experts: [4, 12], seeds: 1, epochs: 20, evalEvery: 5 },
  specs(o) {
    const seeds = Array.from({ length: o.seeds }, (_, i) => i);
    const joint = o.sizes.flatMap((N) =>
      o.experts.flatMap((k) =>
        seeds.map((seed) => mnistRun(o, 'joint', N, seed, { experts: k, neuronsPerExpert: o.neuronsPerExpert, patchesPerExpert: o.patchesPerExpert })),
      ),
    );
    const cnn = o.cnnSize > 0 ? seeds.map((seed) => mnistRun(o, 'cnn', o.cnnSize, seed)) : [];
    return [...joint, ...cnn];
  },
  runProblem: mnistRunProblem('fig6', ['joint', 'cnn']),
  runCount: (o) => (o.sizes.length * o.experts.length + (o.cnnSize > 0 ? 1 : 0)) * o.seeds,
});
