/**
 * Spurious correlations without CelebA: does pMoE learn the class's patch, or one that only
 * co-occurs with the class in training? Every data source pmoe builds here takes a spurious feature
 * (../data/spurious.ts): one item per class that an image carries besides its class item, its own
 * class's with probability s (the strength) in training; the models are tested on a set balanced
 * over class x item and on a reversed set (every image with another class's item).
 *
 *   pmoe reproduce spurious                          every part
 *   pmoe reproduce spurious --set 'parts=["grids"]'  one part
 *   pmoe reproduce spurious --quick                  a reduced version (minutes)
 *
 * Three parts, each sweeping s over `strengths`:
 * - `grids`: the CNN, separate and joint pMoE at Figure 4's setting (4x4 grids, SGD lr 0.2, batch
 *   20, 150 epochs, router phase 100 epochs) on MNIST-patch and Fashion-patch, N over `sizes`.
 *   Test numbers are read once, after the last epoch.
 * - `synthetic`: the paper's data model with the sample-complexity law's settings (../experiments/
 *   scaling.ts: d = 16, p = 8, delta_d = 0.3, delta_r = 0.15, noise 0.5, n = 16, 400 SGD steps of
 *   batch 20, learning rate 0.25 times the patches pooled), the CNN and separate and joint pMoE at
 *   every l of `patchesPerExpert`, N over `syntheticSizes`.
 * - `wrn`: WRN and WRN-pMoE on MNIST and Fashion-MNIST quadrants at wrn-mnist's reduced scale with
 *   `wrnEpochs` epochs, at the strengths `wrnStrengths`, N over `wrnSizes` (multiples of the batch,
 *   so no epoch ends in a tiny batch).
 */
import { z } from 'zod';
import { integer, oneOf, real } from '../util/options.js';
import { spuriousStrengthSchema } from '../data/spurious.js';
import type { RunSpec } from '../training/run.js';
import { defineExperiment } from './definition.js';
import { fig4, fig4Fashion, modelList, mnistRunProblem } from './mnist-experiments.js';
import { MAX_SEEDS } from './plan-size.js';
import { scalingCells, scalingSchema, scalingSpec } from './scaling.js';
import { wrnFashion, wrnMnist } from './wrn-experiments.js';

export const SPURIOUS_EXPERIMENT = 'spurious';
export const SPURIOUS_PARTS = ['grids', 'synthetic', 'wrn'] as const;

const strengthList = z.array(spuriousStrengthSchema).min(1);
const sizeList = z.array(integer(2)).min(1);

export const spuriousSchema = z
  .object({
    parts: z
      .array(oneOf(SPURIOUS_PARTS))
      .min(1)
      .default([...SPURIOUS_PARTS]),
    strengths: strengthList.default([0.5, 0.8, 0.95, 0.99]),
    seeds: integer(1, MAX_SEEDS).default(5),
    // grids
    datasets: z
      .array(oneOf(['mnist', 'fashion']))
      .min(1)
      .default(['mnist', 'fashion']),
    sizes: sizeList.default([200, 600, 1000]),
    models: modelList,
    epochs: integer(1).default(150),
    routerEpochs: integer(0).default(100),
    // synthetic
    syntheticSizes: sizeList.default([100, 400]),
    patchesPerExpert: z.array(integer(1)).min(1).default([1, 2, 4, 8]),
    syntheticSeeds: integer(1, MAX_SEEDS).default(5),
    // wrn
    wrnDatasets: z
      .array(oneOf(['mnist', 'fashion']))
      .min(1)
      .default(['mnist', 'fashion']),
    wrnStrengths: strengthList.default([0.5, 0.99]),
    wrnSizes: z.array(integer(1)).min(1).default([512]),
    wrnSeeds: integer(1, MAX_SEEDS).default(3),
    wrnEpochs: integer(1).default(30),
    wrnModels: z
      .array(oneOf(['wrn', 'wrn-pmoe']))
      .min(1)
      .default(['wrn', 'wrn-pmoe']),
    learningRate: real(0, Infinity, { exclusiveMin: true }).optional(),
  })
  .strict();

export type SpuriousOptions = z.output<typeof spuriousSchema>;

function gridSpecs(o: SpuriousOptions): RunSpec[] {
  return o.datasets.flatMap((dataset) =>
    o.strengths.flatMap((spuriousStrength) => {
      const experiment = dataset === 'mnist' ? fig4 : fig4Fashion;
      const settings = experiment.schema.parse({
        sizes: o.sizes,
        models: o.models,
        seeds: o.seeds,
        epochs: o.epochs,
        routerEpochs: o.routerEpochs,
        evalEvery: o.epochs,
        spuriousStrength,
        ...(o.learningRate === undefined ? {} : { learningRate: o.learningRate }),
      });
      return experiment.specs(settings);
    }),
  );
}

function syntheticSpecs(o: SpuriousOptions): RunSpec[] {
  const scaling = scalingSchema.parse({ patchCounts: [16], patchesPerExpert: o.patchesPerExpert, models: o.models, seeds: o.syntheticSeeds, testSize: 1000 });
  const { cells } = scalingCells(scaling);
  const seeds = Array.from({ length: o.syntheticSeeds }, (_, i) => i);
  return o.strengths.flatMap((spuriousStrength) =>
    cells.flatMap((cell) =>
      o.syntheticSizes.flatMap((N) =>
        seeds.map((seed) => {
          const spec = scalingSpec(scaling, cell, N, seed);
          return { ...spec, data: { ...spec.data, spuriousStrength } };
        }),
      ),
    ),
  );
}

function wrnSpecs(o: SpuriousOptions): RunSpec[] {
  return o.wrnDatasets.flatMap((dataset) =>
    o.wrnStrengths.flatMap((spuriousStrength) => {
      const experiment = dataset === 'mnist' ? wrnMnist : wrnFashion;
      return experiment.specs(experiment.schema.parse({ sizes: o.wrnSizes, seeds: o.wrnSeeds, epochs: o.wrnEpochs, models: o.wrnModels, spuriousStrength }));
    }),
  );
}

const PART_SPECS = { grids: gridSpecs, synthetic: syntheticSpecs, wrn: wrnSpecs } as const;

const gridProblem = mnistRunProblem(SPURIOUS_EXPERIMENT, ['cnn', 'separate', 'joint']);
const fashionProblem = mnistRunProblem(SPURIOUS_EXPERIMENT, ['cnn', 'separate', 'joint'], false, 'fashion-patch');

export const spurious = defineExperiment({
  name: SPURIOUS_EXPERIMENT,
  description:
    'Spurious correlations: CNN and pMoE on MNIST/Fashion grids and the synthetic data model, WRN and WRN-pMoE on quadrants, each with a spurious item in association s; balanced and reversed test sets (pmoe reproduce spurious)',
  schema: spuriousSchema,
  quick: {
    strengths: [0.5, 0.95],
    seeds: 1,
    syntheticSeeds: 1,
    wrnSeeds: 1,
    datasets: ['mnist'],
    sizes: [200],
    epochs: 20,
    routerEpochs: 20,
    syntheticSizes: [100],
    patchesPerExpert: [1, 4],
    wrnDatasets: ['mnist'],
    wrnStrengths: [0.95],
    wrnSizes: [256],
    wrnEpochs: 2,
  },
  specs: (o) => o.parts.flatMap((part) => PART_SPECS[part](o)),
  runCount: (o) => o.parts.reduce((sum, part) => sum + PART_SPECS[part](o).length, 0),
  runProblem(spec) {
    const run = spec as { kind?: unknown; data?: { source?: unknown } };
    if (run.kind === 'image') {
      const source = run.data?.source;
      return source === 'mnist-quadrants' || source === 'fashion-quadrants'
        ? undefined
        : `spurious image runs are on quadrant data; this one is on ${String(source)}`;
    }
    if (run.data?.source === 'synthetic') return undefined;
    return run.data?.source === 'fashion-patch' ? fashionProblem(spec) : gridProblem(spec);
  },
});
