import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import type { Rng } from '../engine/random.js';
import { makeBatch, type Batch } from './batches.js';

/** Plain mini-batch SGD settings (the paper: lr 0.2, batch 20). */
export interface SgdSettings {
  readonly learningRate: number;
  readonly batchSize: number;
}

/**
 * One epoch of mini-batch SGD over a fresh shuffle of `data`; the last batch may be smaller.
 * `loss` builds the scalar to minimise for a batch; only `variables` move.
 */
export function sgdEpoch(
  data: PatchDataset,
  settings: SgdSettings,
  rng: Rng,
  variables: tf.Variable[],
  loss: (batch: Batch) => tf.Scalar,
  optimizer: tf.Optimizer = tf.train.sgd(settings.learningRate),
): void {
  const order = rng.shuffle(Array.from({ length: data.count }, (_, i) => i));
  for (let start = 0; start < data.count; start += settings.batchSize) {
    const batch = makeBatch(data, order, start, Math.min(start + settings.batchSize, data.count));
    try {
      optimizer.minimize(() => loss(batch), false, variables);
    } finally {
      batch.patches.dispose();
      batch.labels.dispose();
    }
  }
}

/** Thrown when a loss or weight stops being finite; names the likely cure. */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
}

export function checkFinite(what: string, value: number, learningRate: number): void {
  if (!Number.isFinite(value)) {
    throw new DivergenceError(
      `${what} became ${value} (training diverged); try a smaller learning rate than ${learningRate}`,
    );
  }
}
