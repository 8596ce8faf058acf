import { canonicalJson } from '../util/canonical-json.js';
import type { PatchDataset } from './dataset.js';
import { MNIST_COLS, MNIST_ROWS } from './mnist.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist.js';
import { loadMnist, mnistDataDir, type MnistSplitName } from './mnist.js';
import {
  composeMnistPatchPool,
  composeSpuriousPool,
  materialize,
  MNIST_PATCH_DIM,
  takeBalanced,
  validateMnistPatchConfig,
  type MnistPatchConfig,
  type MnistPatchOptions,
  type MnistPatchPool,
} from './mnist-patch.js';
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

/**
 * The same grids built from Fashion-MNIST (./fashion-mnist.ts): the "digits" options name its
 * classes 0..9 (default: Trouser (1) vs T-shirt/top (0), the other eight as fillers); `dir` is a
 * Fashion-MNIST folder (default Debian's).
 */
export type FashionPatchDataSpec = { source: 'fashion-patch'; trainSize: number; sampleSeed?: number } & MnistPatchOptions;

/** The sources whose images are grids of 28x28 items (MNIST digits or Fashion-MNIST clothes). */
export type GridSource = 'mnist-patch' | 'fashion-patch';
const GRID_SOURCES: readonly string[] = ['mnist-patch', 'fashion-patch'] satisfies GridSource[];

export type DataSpec = SyntheticDataSpec | MnistPatchDataSpec | FashionPatchDataSpec;
export const DATA_SOURCES = ['synthetic', 'mnist-patch', 'fashion-patch'] as const;

/** A data spec with every default filled in, as run records store it. */
export type ResolvedDataSpec =
  | ({ source: 'synthetic'; trainSize: number; testSize: number } & SyntheticConfig)
  | ({ source: GridSource; trainSize: number; sampleSeed: number } & MnistPatchConfig);

/** The test sets of a spurious feature (./spurious.ts), and the names its groups take. */
export interface SpuriousTestSets {
  /** s of the training set. */
  readonly strength: number;
  /** Test images carrying a spurious item, balanced over class x item. */
  readonly balanced: PatchDataset;
  /** The same images, each carrying another class's item. */
  readonly reversed: PatchDataset;
  readonly classNames: readonly string[];
  /** The spurious item of each class. */
  readonly itemNames: readonly string[];
}

export interface LoadedData {
  readonly spec: ResolvedDataSpec;
  readonly train: PatchDataset;
  readonly test: PatchDataset;
  /** l* where the source can compute it (the synthetic data model). */
  readonly lStar?: number;
  /** Where the spec sets a spurious feature (spuriousStrength). */
  readonly spurious?: SpuriousTestSets;
}

/** Test samples of a synthetic run unless said otherwise. */
export const SYNTHETIC_TEST_SIZE = 1000;
const syntheticSizes = z.object({ trainSize: integer(1), testSize: integer(1).default(SYNTHETIC_TEST_SIZE) });
const mnistSizes = z.object({ trainSize: integer(1), sampleSeed: integer(0).default(0) });

// Pools and the materialised test sets are shared by every run of a process with the same options
// (the test sets do not depend on spuriousStrength, so runs at several strengths share them).
const gridCache = new Map<string, Promise<unknown>>();
function cachedGrid<T>(key: string, make: () => Promise<T>): Promise<T> {
  let entry = gridCache.get(key) as Promise<T> | undefined;
  if (!entry) {
    entry = make();
    entry.catch(() => gridCache.delete(key));
    gridCache.set(key, entry);
  }
  return entry;
}

const loadSplit = (source: GridSource, split: MnistSplitName, dir: string | undefined) =>
  source === 'mnist-patch' ? loadMnist(split, dir) : loadFashionMnist(split, dir);

const gridItems = (source: GridSource) => (source === 'fashion-patch' ? 'fashion' : 'mnist');

function gridTrainPool(source: GridSource, config: MnistPatchConfig): Promise<MnistPatchPool> {
  return cachedGrid(`train:${source}:${canonicalJson(config)}`, async () => composeMnistPatchPool(await loadSplit(source, 'train', config.dir), config));
}

function gridTestSets(source: GridSource, config: MnistPatchConfig) {
  const { spuriousStrength: _s, ...testConfig } = config;
  return cachedGrid(`test:${source}:${canonicalJson(testConfig)}`, async () => {
    const mnist = await loadSplit(source, 'test', config.dir);
    const test = materialize(composeMnistPatchPool(mnist, testConfig));
    if (testConfig.spuriousItems === undefined) return { test };
    const [balanced, reversed] = (['balanced', 'reversed'] as const).map((assignment) => materialize(composeSpuriousPool(mnist, testConfig, assignment)));
    return { test, balanced, reversed };
  });
}

/** What the items of a grid are called: digits, or Fashion-MNIST's class names. */
const itemName = (source: GridSource, item: number) => (source === 'fashion-patch' ? FASHION_MNIST_CLASSES[item] : `digit ${item}`);

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
    const samples = sizes.trainSize + (config.spuriousStrength === undefined ? 1 : 3) * sizes.testSize;
    return { spec: { source, ...sizes, ...config }, patchCount: config.n, patchDim: config.d, classes: config.classes, samples, fileBytes: 0 };
  }
  if (GRID_SOURCES.includes(spec.source)) {
    const { source, trainSize, sampleSeed, ...options } = spec as MnistPatchDataSpec | FashionPatchDataSpec;
    const sizes = parseOptions(mnistSizes, { trainSize, sampleSeed }, 'data');
    const config = validateMnistPatchConfig(options, gridItems(source));
    const testSets = config.spuriousStrength === undefined ? 1 : 3;
    if (source === 'mnist-patch' && config.dir === undefined) mnistDataDir(); // the optional package is there, or the run stops here
    return {
      spec: { source, ...sizes, ...config },
      patchCount: config.gridSize ** 2,
      patchDim: MNIST_PATCH_DIM,
      classes: config.discriminativeDigits.length,
      samples: sizes.trainSize + testSets * config.testCount,
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
  const cure =
    spec.source === 'synthetic'
      ? 'use fewer samples (trainSize, testSize) or smaller n or d'
      : 'use fewer samples (trainSize, testCount) or a smaller gridSize';
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
    const { train, test, lStar, spurious } = makeSyntheticSplit(config, trainSize, testSize);
    const names = Array.from({ length: config.classes }, (_, c) => `class ${c + 1}${config.classes === 2 ? (c === 0 ? ' (y = +1)' : ' (y = -1)') : ''}`);
    const spuriousSets =
      spurious && config.spuriousStrength !== undefined
        ? { strength: config.spuriousStrength, ...spurious, classNames: names, itemNames: names.map((_, c) => `spurious pattern ${c + 1}`) }
        : undefined;
    return { spec: resolved, train, test, lStar, ...(spuriousSets ? { spurious: spuriousSets } : {}) };
  }
  const { source, trainSize, sampleSeed, ...config } = resolved;
  const [pool, sets] = await Promise.all([gridTrainPool(source, config), gridTestSets(source, config)]);
  const train = materialize(pool, takeBalanced(pool, trainSize, sampleSeed));
  const spurious =
    sets.balanced && sets.reversed && config.spuriousStrength !== undefined && config.spuriousItems !== undefined
      ? {
          strength: config.spuriousStrength,
          balanced: sets.balanced,
          reversed: sets.reversed,
          classNames: config.discriminativeDigits.map((item) => itemName(source, item)),
          itemNames: config.spuriousItems.map((item) => itemName(source, item)),
        }
      : undefined;
  return { spec: resolved, train, test: sets.test, ...(spurious ? { spurious } : {}) };
}
