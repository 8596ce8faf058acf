import { canonicalJson } from '../experiments/shard.js';
import type { PatchDataset } from './dataset.js';
import { MNIST_COLS, MNIST_ROWS } from './mnist.js';
import { buildMnistPatchPools, materialize, MNIST_PATCH_DIM, takeBalanced, validateMnistPatchConfig, type MnistPatchConfig, type MnistPatchOptions } from './mnist-patch.js';
import { makeSyntheticSplit, validateSyntheticConfig, type SyntheticConfig } from './synthetic.js';
import { checkMemory, estimateRunBytes, type MemoryLimit } from '../util/memory-estimate.js';
import { integer, parseOptions } from '../util/options.js';
import { z } from 'zod';

/** The paper's synthetic data model: N training and testSize test samples. */
export type SyntheticDataSpec = { source: 'synthetic'; trainSize: number; testSize?: number } & Partial<SyntheticConfig>;

/**
 * MNIST-patch images (the paper's Figures 3-9): N training images drawn class-balanced from the
 * training pool with `sampleSeed`, tested on the whole test pool (testCount images).
 */
export type MnistPatchDataSpec = { source: 'mnist-patch'; trainSize: number; sampleSeed?: number } & MnistPatchOptions;

export type DataSpec = SyntheticDataSpec | MnistPatchDataSpec;
export const DATA_SOURCES = ['synthetic', 'mnist-patch'] as const;

/** A data spec with every default filled in, as run records store it. */
export type ResolvedDataSpec =
  | ({ source: 'synthetic'; trainSize: number; testSize: number } & SyntheticConfig)
  | ({ source: 'mnist-patch'; trainSize: number; sampleSeed: number } & MnistPatchConfig);

export interface LoadedData {
  readonly spec: ResolvedDataSpec;
  readonly train: PatchDataset;
  readonly test: PatchDataset;
  /** l* where the source can compute it (the synthetic data model). */
  readonly lStar?: number;
}

const syntheticSizes = z.object({ trainSize: integer(1), testSize: integer(1).default(1000) });
const mnistSizes = z.object({ trainSize: integer(1), sampleSeed: integer(0).default(0) });

// Pools and the materialised test set are shared by every run of a process with the same options.
const mnistCache = new Map<string, Promise<{ pools: Awaited<ReturnType<typeof buildMnistPatchPools>>; test: PatchDataset }>>();

function mnistPools(config: MnistPatchConfig) {
  const key = canonicalJson(config);
  let entry = mnistCache.get(key);
  if (!entry) {
    entry = buildMnistPatchPools(config).then((pools) => ({ pools, test: materialize(pools.test) }));
    entry.catch(() => mnistCache.delete(key));
    mnistCache.set(key, entry);
  }
  return entry;
}

/** A validated data spec and the shape of what it makes, known before any data exists. */
export interface DataPlan {
  readonly spec: ResolvedDataSpec;
  /** n */
  readonly patchCount: number;
  /** d */
  readonly patchDim: number;
  readonly classes: number;
  /** Training plus test samples. */
  readonly samples: number;
  /** Raw data-file bytes the source keeps in memory. */
  readonly fileBytes: number;
}

// MNIST's four IDX files (70,000 images of 28 x 28 bytes and their labels) stay loaded for the pools.
const MNIST_FILE_BYTES = 70_000 * (MNIST_ROWS * MNIST_COLS + 1);

/** Validates a data spec and fills its defaults, without making or reading any data. */
export function planData(spec: DataSpec): DataPlan {
  if (spec.source === 'synthetic') {
    const { source, trainSize, testSize, ...options } = spec;
    const sizes = parseOptions(syntheticSizes, { trainSize, testSize }, 'data');
    const config = validateSyntheticConfig(options);
    const samples = sizes.trainSize + sizes.testSize;
    return { spec: { source, ...sizes, ...config }, patchCount: config.n, patchDim: config.d, classes: config.classes, samples, fileBytes: 0 };
  }
  if (spec.source === 'mnist-patch') {
    const { source, trainSize, sampleSeed, ...options } = spec;
    const sizes = parseOptions(mnistSizes, { trainSize, sampleSeed }, 'data');
    const config = validateMnistPatchConfig(options);
    return {
      spec: { source, ...sizes, ...config },
      patchCount: config.gridSize ** 2,
      patchDim: MNIST_PATCH_DIM,
      classes: config.discriminativeDigits.length,
      samples: sizes.trainSize + config.testCount,
      fileBytes: MNIST_FILE_BYTES,
    };
  }
  throw new RangeError(`data.source must be one of ${DATA_SOURCES.map((s) => `'${s}'`).join(', ')}; got '${String((spec as { source: unknown }).source)}'`);
}

/**
 * Refuses, with the estimate and the limit, a run whose data (and `parameters` model weights)
 * would not fit in memory; returns the estimate in bytes.
 */
export function checkDataMemory(plan: DataPlan, parameters = 0, limit?: MemoryLimit): number {
  const estimate = estimateRunBytes({ ...plan, parameters });
  const { spec } = plan;
  const what = `a run on ${spec.source} data (${spec.trainSize} training + ${plan.samples - spec.trainSize} test samples of ${plan.patchCount} x ${plan.patchDim} values)`;
  const cure = spec.source === 'synthetic' ? 'use fewer samples (trainSize, testSize) or smaller n or d' : 'use fewer samples (trainSize, testCount) or a smaller gridSize';
  checkMemory(estimate, what, cure, limit);
  return estimate;
}

/** Makes or loads the training and test sets a spec names; data that would not fit in memory is refused first. */
export async function loadData(spec: DataSpec, options: { memoryLimit?: MemoryLimit } = {}): Promise<LoadedData> {
  const plan = planData(spec);
  checkDataMemory(plan, 0, options.memoryLimit);
  const resolved = plan.spec;
  if (resolved.source === 'synthetic') {
    const { source: _, trainSize, testSize, ...config } = resolved;
    const { train, test, lStar } = makeSyntheticSplit(config, trainSize, testSize);
    return { spec: resolved, train, test, lStar };
  }
  const { source: _, trainSize, sampleSeed, ...config } = resolved;
  const { pools, test } = await mnistPools(config);
  const train = materialize(pools.train, takeBalanced(pools.train, trainSize, sampleSeed));
  return { spec: resolved, train, test };
}
