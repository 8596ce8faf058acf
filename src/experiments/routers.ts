/**
 * Which router gives pMoE its sample efficiency. The paper explains it by its routing: each expert
 * takes the l best patches of each image (expert choice per image). Here that router and the ones
 * the field uses are trained the same way (joint training, the paper's MNIST protocol: SGD lr 0.2,
 * batch 20, 150 epochs; 8 experts of 5 neurons) at matched compute, beside the CNN (40 neurons), on
 * four data sets, N = 100 to 1000, 5 seeds:
 *   expert-choice        the paper's: each expert takes l = 6 patches of each image
 *   token-choice         V-MoE (NoisyTopExpertsPerItem): each patch picks K = k l / n experts, capacity
 *                        factor 1 per image, noise 1/k, importance and load losses 0.005 each
 *   token-choice-bpr     the same with batch priority routing over groups of the 20 images of a batch
 *   batch-expert-choice  Zhou et al.: each expert takes the k l / n x (its share) best patches of a
 *                        group of 20 images (capacity factor k l / n)
 *   soft-moe             Puigcerver et al.: l slots per expert, each a mix of all the image's patches
 * Matched compute: every router makes k l = 48 patch-to-expert assignments per image on average
 * (token choice at most that many: a choice over capacity is dropped).
 * Data: the paper's synthetic data model (its defaults, n = 16, d = 32), MNIST-patch 1 vs 0 (the
 * paper's), MNIST-patch 9 vs 4 (the pair atlas's hardest pair for separate training's router), and
 * Fashion-patch (Trouser vs T-shirt/top).
 *
 *   pmoe reproduce routers            4 data sets x 6 models x N = 100, 200, 500, 1000 x 5 seeds (480 runs)
 *   pmoe reproduce routers --quick    2 data sets, N = 100, 500, 1 seed, 20 epochs
 */
import { z } from 'zod';
import type { RouterSetting } from '../routing/registry.js';
import type { PatchRunSpec } from '../training/run.js';
import { integer, oneOf, real } from '../util/options.js';
import { INIT_SCHEMES } from '../models/init.js';
import { defineExperiment } from './definition.js';
import { MAX_EPOCHS, MAX_SEEDS } from './plan-size.js';
import { pairConstruction } from './pair-atlas.js';

export const ROUTERS_EXPERIMENT = 'routers';

/** The routers compared, as the experiment names them (each a router setting at matched compute). */
export const ROUTER_VARIANTS = ['expert-choice', 'token-choice', 'token-choice-bpr', 'batch-expert-choice', 'soft-moe'] as const;
export type RouterVariant = (typeof ROUTER_VARIANTS)[number];
export const ROUTER_MODELS = ['cnn', ...ROUTER_VARIANTS] as const;
export type RouterModel = (typeof ROUTER_MODELS)[number];

export const ROUTER_DATASETS = ['synthetic', 'mnist', 'mnist-hard', 'fashion'] as const;
export type RouterDataset = (typeof ROUTER_DATASETS)[number];

const digit = integer(0, 9);

/** Patches per image of every data set of the experiment: the 4 x 4 grids and the synthetic data model's default n. */
const PATCHES = 16;

export const routersSchema = z
  .object({
    seeds: integer(1, MAX_SEEDS).default(5),
    epochs: integer(1, MAX_EPOCHS).default(150),
    learningRate: real(0, Infinity, { exclusiveMin: true }).default(0.2),
    batchSize: integer(1).default(20),
    /** Test samples (MNIST-patch: the test pool; synthetic: the test set). */
    testCount: integer(2).default(1000),
    evalEvery: integer(1).default(15),
    init: oneOf(INIT_SCHEMES).default('paper'),
    sizes: z.array(integer(2)).min(1).default([100, 200, 500, 1000]),
    datasets: z
      .array(oneOf(ROUTER_DATASETS))
      .min(1)
      .default([...ROUTER_DATASETS]),
    models: z
      .array(oneOf(ROUTER_MODELS))
      .min(1)
      .default([...ROUTER_MODELS]),
    /** mnist-hard's two digits (the pair atlas: separate training's router fares worst on 4 and 9). */
    hardPair: z
      .tuple([digit, digit])
      .refine(([a, b]) => a !== b, { message: 'must be two different digits' })
      .default([4, 9]),
    /** The joint pMoE of the paper's MNIST runs: k experts of m/k neurons, l patches per expert. */
    experts: integer(1).default(8),
    neuronsPerExpert: integer(1).default(5),
    patchesPerExpert: integer(1).default(6),
    /** The CNN's neurons m. */
    neurons: integer(1).default(40),
  })
  .strict()
  .superRefine((o, ctx) => {
    const n = PATCHES;
    if ((o.experts * o.patchesPerExpert) % n !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['patchesPerExpert'],
        message: `matched compute needs k l / n whole (each patch's token-choice experts); k l = ${o.experts * o.patchesPerExpert} is not a multiple of n = ${n}`,
      });
    }
    const odd = o.sizes.filter((N) => N % 2 !== 0);
    if (odd.length > 0) ctx.addIssue({ code: 'custom', path: ['sizes'], message: `every N must be even (N / 2 images per class); ${odd.join(', ')} is not` });
  });
export type RoutersOptions = z.output<typeof routersSchema>;

/** The router setting of a variant at matched compute: k l patch-to-expert assignments per image. */
export function routerSetting(variant: RouterVariant, o: Pick<RoutersOptions, 'experts' | 'patchesPerExpert' | 'batchSize'>): RouterSetting | undefined {
  const perPatch = (o.experts * o.patchesPerExpert) / PATCHES;
  switch (variant) {
    case 'expert-choice':
      return undefined; // the default: the same runs as the paper's joint pMoE
    case 'token-choice':
      return { name: 'token-choice', topK: perPatch, capacityFactor: 1 };
    case 'token-choice-bpr':
      return { name: 'token-choice', topK: perPatch, capacityFactor: 1, batchPriority: true, groupSize: o.batchSize };
    case 'batch-expert-choice':
      return { name: 'batch-expert-choice', capacityFactor: perPatch, groupSize: o.batchSize };
    case 'soft-moe':
      return { name: 'soft-moe', slotsPerExpert: o.patchesPerExpert };
  }
}

/** Which variant a run's model is (the reverse of routerSetting): by its router setting. */
export function routerVariantOf(model: { readonly router?: unknown } | undefined, kind: string): RouterModel | undefined {
  if (kind === 'cnn') return 'cnn';
  const router = model?.router as { name?: string; batchPriority?: boolean } | string | undefined;
  const name = typeof router === 'string' ? router : router?.name;
  if (name === undefined || name === 'expert-choice') return 'expert-choice';
  if (name === 'token-choice') return typeof router === 'object' && router.batchPriority ? 'token-choice-bpr' : 'token-choice';
  if (name === 'batch-expert-choice' || name === 'soft-moe') return name;
  return undefined;
}

function dataOf(dataset: RouterDataset, o: RoutersOptions, trainSize: number, seed: number): PatchRunSpec['data'] {
  if (dataset === 'synthetic') return { source: 'synthetic', trainSize, testSize: o.testCount, seed };
  const grid = { trainSize, sampleSeed: seed, testCount: o.testCount };
  if (dataset === 'fashion') return { source: 'fashion-patch', ...grid };
  if (dataset === 'mnist') return { source: 'mnist-patch', ...grid };
  return { source: 'mnist-patch', ...grid, ...pairConstruction(o.hardPair) };
}

/** The data set a run's data spec is (the reverse of dataOf). */
export function routerDatasetOf(data: { readonly source: string; readonly discriminativeDigits?: readonly number[] }): RouterDataset | undefined {
  if (data.source === 'synthetic') return 'synthetic';
  if (data.source === 'fashion-patch') return 'fashion';
  if (data.source !== 'mnist-patch') return undefined;
  const digits = data.discriminativeDigits;
  return digits === undefined || (digits[0] === 1 && digits[1] === 0) ? 'mnist' : 'mnist-hard';
}

export function routerRun(o: RoutersOptions, dataset: RouterDataset, model: RouterModel, trainSize: number, seed: number): PatchRunSpec {
  const router = model === 'cnn' ? undefined : routerSetting(model, o);
  return {
    data: dataOf(dataset, o, trainSize, seed),
    model:
      model === 'cnn'
        ? { neurons: o.neurons, init: o.init }
        : {
            experts: o.experts,
            neuronsPerExpert: o.neuronsPerExpert,
            patchesPerExpert: o.patchesPerExpert,
            gate: 'softmax-selected',
            init: o.init,
            ...(router ? { router } : {}),
          },
    training: {
      model: model === 'cnn' ? 'cnn' : 'joint',
      epochs: o.epochs,
      learningRate: o.learningRate,
      batchSize: o.batchSize,
      evalEvery: o.evalEvery,
      seed,
    },
  };
}

export const routers = defineExperiment({
  name: ROUTERS_EXPERIMENT,
  description:
    "Which router gives pMoE its sample efficiency: the paper's expert choice per image, token choice (with and without batch priority), expert choice over a batch and Soft MoE at matched compute, and the CNN (pmoe reproduce routers)",
  schema: routersSchema,
  quick: { datasets: ['synthetic', 'mnist'], sizes: [100, 500], seeds: 1, epochs: 20, evalEvery: 10 },
  // Seed by seed: a sweep stopped early holds whole seeds of every cell.
  specs: (o) =>
    Array.from({ length: o.seeds }, (_, seed) =>
      o.datasets.flatMap((dataset) => o.sizes.flatMap((N) => o.models.map((model) => routerRun(o, dataset, model, N, seed)))),
    ).flat(),
  runCount: (o) => o.datasets.length * o.sizes.length * o.models.length * o.seeds,
  runProblem: (spec) => {
    const run = spec as {
      kind?: unknown;
      data?: { source?: string; discriminativeDigits?: number[] };
      model?: { router?: unknown };
      training?: { model?: unknown };
    };
    if (run.kind !== undefined || !run.data?.source) return 'routers runs are two-layer runs; this one is not';
    if (routerDatasetOf(run.data as { source: string }) === undefined)
      return `routers runs are on synthetic, mnist-patch or fashion-patch data; this one is on ${run.data.source}`;
    const kind = String(run.training?.model ?? 'joint');
    if (kind !== 'cnn' && kind !== 'joint') return `routers runs train the CNN or joint pMoE; this one trains ${kind}`;
    if (routerVariantOf(run.model, kind) === undefined) return `routers runs use one of the routers ${ROUTER_VARIANTS.join(', ')}; this one does not`;
    return undefined;
  },
});
