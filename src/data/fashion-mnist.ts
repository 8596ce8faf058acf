/**
 * Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey images of ten kinds of clothing, in MNIST's
 * IDX layout. pmoe reads the copy Debian's package `dataset-fashion-mnist` installs (gzipped, in
 * /usr/share/datasets/fashion-mnist), or any folder holding the same four files, gzipped or not.
 * A split has MNIST's shape, so everything built on MNIST (patch grids, quadrants) takes it as is.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { readMaybeGzipped } from './gzip-file.js';
import { parseIdx } from './idx.js';
import { DataFileError } from './data-file-error.js';
import { checkedSplit, type MnistSplit, type MnistSplitName } from './mnist.js';
import { PromiseCache } from '../util/promise-cache.js';

/** Where Debian's `dataset-fashion-mnist` puts the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_INSTALL = 'apt-get install dataset-fashion-mnist';

/** Class names, by label. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

const KIND = 'Fashion-MNIST file';
const PREFIX: Record<MnistSplitName, string> = { train: 'train', test: 't10k' };

/** The file of `name` in `dir`: `name.gz` when it exists, else `name` (and the .gz name when neither does, for the error). */
function fileIn(dir: string, name: string): string {
  const gz = resolve(dir, `${name}.gz`);
  const plain = resolve(dir, name);
  return existsSync(gz) || !existsSync(plain) ? gz : plain;
}

/** The image and label files of `split` in `dir` (default Debian's folder). */
export function fashionMnistFiles(split: MnistSplitName, dir: string = FASHION_MNIST_DIR): { images: string; labels: string } {
  const prefix = PREFIX[split];
  return { images: fileIn(dir, `${prefix}-images-idx3-ubyte`), labels: fileIn(dir, `${prefix}-labels-idx1-ubyte`) };
}

/** Whether Fashion-MNIST can be read from `dir` (tests skip with a reason when not). */
export function fashionMnistAvailable(dir: string = FASHION_MNIST_DIR): boolean {
  const files = [fashionMnistFiles('train', dir), fashionMnistFiles('test', dir)].flatMap((f) => [f.images, f.labels]);
  return files.every((file) => existsSync(file));
}

async function readSplit(split: MnistSplitName, dir: string | undefined): Promise<MnistSplit> {
  const folder = dir ?? FASHION_MNIST_DIR;
  const files = fashionMnistFiles(split, folder);
  // A missing folder is most often the package not installed: say how to install it.
  if (!existsSync(folder)) {
    throw new DataFileError(
      files.images,
      `cannot read: no folder ${resolve(folder)} (install Fashion-MNIST with ${FASHION_MNIST_INSTALL}, or name a folder holding its four IDX files)`,
      KIND,
    );
  }
  const images = parseIdx(await readMaybeGzipped(files.images, KIND), files.images, KIND);
  const labels = parseIdx(await readMaybeGzipped(files.labels, KIND), files.labels, KIND);
  return checkedSplit(split, images, labels, files, KIND);
}

const cache = new PromiseCache<MnistSplit>();

/**
 * One split of Fashion-MNIST from `dir` (default Debian's folder), cached per process by file path;
 * a failed read is not cached.
 */
export function loadFashionMnist(split: MnistSplitName, dir?: string): Promise<MnistSplit> {
  if (split !== 'train' && split !== 'test') {
    return Promise.reject(new RangeError(`Fashion-MNIST split must be 'train' or 'test' (got ${JSON.stringify(split)})`));
  }
  return cache.get(fashionMnistFiles(split, dir).images, () => readSplit(split, dir));
}
