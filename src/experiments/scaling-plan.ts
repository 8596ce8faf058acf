/** The sample-complexity law's options, grid and runs (./scaling.ts drives the sweep): no import of the sweep, so experiments the registry lists can build on them. */
import { z } from 'zod';
import { validateSyntheticConfig } from '../data/synthetic.js';
import { MODEL_KINDS, type ModelKind } from '../models/build.js';
import { INIT_SCHEMES } from '../models/init.js';
import type { PatchRunSpec } from '../training/run.js';
import { integer, oneOf, OptionError, real } from '../util/options.js';
import { MAX_EPOCHS, MAX_SEEDS } from './plan-size.js';

export const SCALING_EXPERIMENT = 'scaling';

const positive = () => real(0, Infinity, { exclusiveMin: true });

export const scalingSchema = z
  .object({
    seeds: integer(1, MAX_SEEDS).default(5),
    /** A run succeeds when its final test accuracy is at least this. */
    targetAccuracy: real(0, 1, { exclusiveMin: true }).default(0.95),
    /** N succeeds when at least this share of its seeds succeed. */
    requiredShare: real(0, 1, { exclusiveMin: true }).default(0.8),
    /** n, patches per sample. */
    patchCounts: z.array(integer(2)).min(1).default([8, 16, 32, 64]),
    /** l, patches per expert (pMoE only). */
    patchesPerExpert: z.array(integer(1)).min(1).default([1, 2, 4, 8]),
    models: z.array(oneOf(MODEL_KINDS)).min(1).default(['cnn', 'separate', 'joint']),
    /** Bisection range of N, and its relative tolerance. */
    low: integer(1).default(8),
    high: integer(1).default(2048),
    tolerance: positive().default(0.25),
    // The data model (the same for every cell but n).
    d: integer(3).default(16),
    p: integer(1).default(8),
    deltaD: real(-1, 1, { exclusiveMin: true, exclusiveMax: true }).default(0.3),
    deltaR: real(0, 1, { exclusiveMax: true }).default(0.15),
    noise: real(0).default(0.5),
    confusers: integer(0).default(0),
    testSize: integer(1).default(500),
    // The models: m neurons in total each; separate pMoE splits them over 2 experts, joint over `experts`.
    neurons: integer(2).default(16),
    experts: integer(2).default(4),
    jointGate: oneOf(['softmax-selected', 'softmax-all']).default('softmax-selected'),
    init: oneOf(INIT_SCHEMES).default('paper'),
    // Training.
    /** At most MAX_EPOCHS, so that no run's epochs (at most its steps) exceed the trainers' limit. */
    steps: integer(1, MAX_EPOCHS).default(400),
    /** When set, every run trains this many epochs instead (the step budget then grows with N). */
    epochsPerRun: integer(1, MAX_EPOCHS).optional(),
    batchSize: integer(1).default(20),
    learningRate: positive().default(0.25),
    learningRateScaling: oneOf(['pooled', 'none']).default('pooled'),
    routerEpochs: integer(1, MAX_EPOCHS).default(10),
  })
  .strict()
  .superRefine((o, ctx) => {
    if (o.high < o.low) ctx.addIssue({ code: 'custom', path: ['high'], message: `must be >= low = ${o.low}` });
    if (o.models.includes('separate') && o.neurons % 2 !== 0)
      ctx.addIssue({ code: 'custom', path: ['neurons'], message: 'must be even: separate pMoE splits them over 2 experts' });
    if (o.models.includes('joint') && o.neurons % o.experts !== 0)
      ctx.addIssue({ code: 'custom', path: ['neurons'], message: `must be a multiple of experts = ${o.experts} (joint pMoE splits them evenly)` });
  });

export type ScalingOptions = z.output<typeof scalingSchema>;

/** The reduced version: n = 8, 16, 32, l = 2, 8, 3 seeds (all 3 must succeed), N in [8, 512], 300 steps. */
export const SCALING_QUICK: Partial<z.input<typeof scalingSchema>> = {
  patchCounts: [8, 16, 32],
  patchesPerExpert: [2, 8],
  seeds: 3,
  steps: 300,
  high: 512,
  tolerance: 0.5,
  testSize: 300,
};

/** The experiment as a name, description, schema and quick overrides (it has no fixed run list). */
export const scaling = {
  name: SCALING_EXPERIMENT,
  description:
    'Sample-complexity law: the smallest N at which the CNN, separate and joint pMoE reach 95% test accuracy, by bisection over N, for n = 8..64 and l = 1..8 (pmoe scaling)',
  schema: scalingSchema,
  quick: SCALING_QUICK,
} as const;

/** One bisection: a model at n patches per sample and, for pMoE, l patches per expert. */
export interface ScalingCell {
  readonly model: ModelKind;
  readonly n: number;
  /** null for the CNN. */
  readonly l: number | null;
}

export const cellLabel = (cell: ScalingCell) => `${cell.model} n=${cell.n}${cell.l === null ? '' : ` l=${cell.l}`}`;

/** The x of the law: n / l for pMoE, n for the CNN (it has no l; its bound is n^8). */
export const cellRatio = (cell: ScalingCell) => (cell.l === null ? cell.n : cell.n / cell.l);

export interface SkippedCell {
  readonly cell: ScalingCell;
  readonly reason: string;
}

/** l* of the data as the grid assumes it: 1 + confusers (every near patch delta'-close). */
export const lStarBound = (o: Pick<ScalingOptions, 'confusers'>) => 1 + o.confusers;

/** The grid's cells, and the (model, n, l) left out with the reason. */
export function scalingCells(o: ScalingOptions): { cells: ScalingCell[]; skipped: SkippedCell[] } {
  const ns = [...new Set(o.patchCounts)].sort((a, b) => a - b);
  const ls = [...new Set(o.patchesPerExpert)].sort((a, b) => a - b);
  // Checks the data model once for the largest and smallest n (confusers must be <= n - 1).
  for (const n of [ns[0], ns.at(-1)!])
    validateSyntheticConfig({ d: o.d, n, p: o.p, deltaD: o.deltaD, deltaR: o.deltaR, noise: o.noise, confusers: o.confusers });
  const cells: ScalingCell[] = [];
  const skipped: SkippedCell[] = [];
  const lStar = lStarBound(o);
  for (const model of MODEL_KINDS.filter((m) => o.models.includes(m))) {
    for (const n of ns) {
      if (model === 'cnn') {
        cells.push({ model, n, l: null });
        continue;
      }
      for (const l of ls) {
        const cell = { model, n, l };
        if (l > n) skipped.push({ cell, reason: `l = ${l} > n = ${n}` });
        else if (l < lStar) skipped.push({ cell, reason: `l = ${l} < l* = ${lStar} (1 + confusers): routing cannot be discriminative` });
        else if (model === 'joint' && l === 1 && o.jointGate === 'softmax-selected')
          skipped.push({ cell, reason: 'joint pMoE with a softmax over l = 1 selected score: the gate is always 1 and the router never learns' });
        else cells.push(cell);
      }
    }
  }
  if (cells.length === 0) throw new OptionError(`scaling: the grid has no cells (${skipped.map((s) => `${cellLabel(s.cell)}: ${s.reason}`).join('; ')})`);
  return { cells, skipped };
}

/** The learning rate of a cell: the base rate times the patches pooled over (n or l) when scaled. */
export function cellLearningRate(o: Pick<ScalingOptions, 'learningRate' | 'learningRateScaling'>, cell: ScalingCell): number {
  return o.learningRateScaling === 'pooled' ? o.learningRate * (cell.l ?? cell.n) : o.learningRate;
}

/** Epochs that give about `steps` SGD steps at N samples (or `epochsPerRun` where set). */
export const epochsFor = (o: Pick<ScalingOptions, 'steps' | 'batchSize' | 'epochsPerRun'>, trainSize: number) =>
  o.epochsPerRun ?? Math.ceil(o.steps / Math.ceil(trainSize / o.batchSize));

/** The run of one seed of one cell at N training samples. */
export function scalingSpec(o: ScalingOptions, cell: ScalingCell, trainSize: number, seed: number): PatchRunSpec {
  const epochs = epochsFor(o, trainSize);
  const model =
    cell.model === 'cnn'
      ? { neurons: o.neurons, init: o.init }
      : cell.model === 'separate'
        ? { experts: 2, neuronsPerExpert: o.neurons / 2, patchesPerExpert: cell.l!, gate: 'hard' as const, init: o.init }
        : { experts: o.experts, neuronsPerExpert: o.neurons / o.experts, patchesPerExpert: cell.l!, gate: o.jointGate, init: o.init };
  return {
    data: {
      source: 'synthetic',
      trainSize,
      testSize: o.testSize,
      d: o.d,
      n: cell.n,
      p: o.p,
      deltaD: o.deltaD,
      deltaR: o.deltaR,
      noise: o.noise,
      confusers: o.confusers,
      seed,
    },
    model,
    training: {
      model: cell.model,
      epochs,
      batchSize: o.batchSize,
      learningRate: cellLearningRate(o, cell),
      evalEvery: epochs,
      seed,
      ...(cell.model === 'separate' ? { routerEpochs: o.routerEpochs } : {}),
    },
  };
}
