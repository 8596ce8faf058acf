import { canonicalJson } from '../experiments/shard.js';
import type { PatchDataset } from './dataset.js';
import { buildMnistPatchPools, materialize, takeBalanced, validateMnistPatchConfig, type MnistPatchConfig, type MnistPatchOptions } from './mnist-patch.js';
import { makeSyntheticSplit, validateSyntheticConfig, type SyntheticConfig } from './synthetic.js';
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

/** Makes or loads the training and test sets a spec names. */
export async function loadData(spec: DataSpec): Promise<LoadedData> {
  if (spec.source === 'synthetic') {
    const { source, trainSize, testSize, ...options } = spec;
    const sizes = parseOptions(syntheticSizes, { trainSize, testSize }, 'data');
    const config = validateSyntheticConfig(options);
    const { train, test, lStar } = makeSyntheticSplit(config, sizes.trainSize, sizes.testSize);
    return { spec: { source, ...sizes, ...config }, train, test, lStar };
  }
  if (spec.source === 'mnist-patch') {
    const { source, trainSize, sampleSeed, ...options } = spec;
    const sizes = parseOptions(mnistSizes, { trainSize, sampleSeed }, 'data');
    const config = validateMnistPatchConfig(options);
    const { pools, test } = await mnistPools(config);
    const train = materialize(pools.train, takeBalanced(pools.train, sizes.trainSize, sizes.sampleSeed));
    return { spec: { source, ...sizes, ...config }, train, test };
  }
  throw new RangeError(`data.source must be one of ${DATA_SOURCES.map((s) => `'${s}'`).join(', ')}; got '${String((spec as { source: unknown }).source)}'`);
}
