/**
 * The small pool of MNIST digits the page ships for training in the browser: the first
 * `perDigit.train` images of every digit in MNIST's training split and the first `perDigit.test`
 * of its test split, in MNIST order, gzip-compressed. The page composes its MNIST-patch images from
 * it with the library's own construction (../data/mnist-patch.ts), so training and test images keep
 * coming from different MNIST splits. Types and decoding only, no Node API: the worker imports this.
 */
import type { MnistSplit, MnistSplitName } from '../data/mnist.js';
import { base64ToBytes } from './web-data.js';

export const DIGIT_POOL_FORMAT = 'pmoe-digit-pool';

export interface ShippedSplit {
  readonly count: number;
  /** One digit 0..9 per image, as base64. */
  readonly labels: string;
  /** count x 28 x 28 grayscale bytes, gzip then base64. */
  readonly imagesGzip: string;
}

export interface ShippedDigitPool {
  readonly format: typeof DIGIT_POOL_FORMAT;
  readonly version: 1;
  readonly source: string;
  readonly perDigit: { readonly train: number; readonly test: number };
  readonly train: ShippedSplit;
  readonly test: ShippedSplit;
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** One split of the shipped pool as the MnistSplit the MNIST-patch construction reads. */
export async function decodeShippedSplit(pool: ShippedDigitPool, split: MnistSplitName): Promise<MnistSplit> {
  const shipped = pool[split];
  const images = await gunzip(base64ToBytes(shipped.imagesGzip));
  const labels = base64ToBytes(shipped.labels);
  if (images.length !== shipped.count * 784 || labels.length !== shipped.count) {
    throw new Error(`the page's digit pool (${split}) is damaged: ${images.length} pixel bytes and ${labels.length} labels for ${shipped.count} images`);
  }
  const where = `the page's digit pool (${split})`;
  return { split, images, labels, count: shipped.count, rows: 28, cols: 28, imagesPath: where, labelsPath: where };
}
