import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import type { Rng } from '../util/random.js';
import { makeBatch, type Batch } from '../data/batches.js';

/** The most epochs (or router epochs) one run trains: `pmoe train` and every sweep refuse more. */
export const MAX_EPOCHS = 100_000;

/** Plain mini-batch SGD settings (the paper: lr 0.2, batch 20). */
export interface SgdSettings {
  readonly learningRate: number;
  readonly batchSize: number;
}

/**
 * One epoch of mini-batch SGD over a fresh shuffle of `data`; the last batch may be smaller.
 * `loss` builds the scalar to minimise for a batch; only `variables` move. Yields after each step.
 */
export function* sgdEpoch(
  data: PatchDataset,
  settings: SgdSettings,
  rng: Rng,
  variables: tf.Variable[],
  loss: (batch: Batch) => tf.Scalar,
  optimizer: tf.Optimizer = tf.train.sgd(settings.learningRate),
): Generator<void, void> {
  const order = epochOrder(data.count, rng);
  for (let start = 0; start < data.count; start += settings.batchSize) {
    const batch = makeBatch(data, order, start, Math.min(start + settings.batchSize, data.count));
    try {
      optimizer.minimize(() => loss(batch), false, variables);
    } finally {
      batch.patches.dispose();
      batch.labels.dispose();
    }
    yield;
  }
}

/** An epoch's fresh shuffle of the sample indices 0..count-1 (its batches are consecutive runs of it). */
export function epochOrder(count: number, rng: Rng): number[] {
  return rng.shuffle(Array.from({ length: count }, (_, i) => i));
}

/** Thrown when a loss or weight stops being finite; names the likely cure. */
export class DivergenceError extends Error {
  override name = 'DivergenceError';
}

export function checkFinite(what: string, value: number, learningRate: number): void {
  if (!Number.isFinite(value)) {
    throw new DivergenceError(`${what} became ${value} (training diverged); try a smaller learning rate than ${learningRate}`);
  }
}

/**
 * Throws a DivergenceError when a weight holds NaN or an infinity, which the loss can hide (a ReLU
 * maps -Infinity to 0). One reduction and one read: x * 0 is 0 for finite x, NaN otherwise.
 */
export function checkFiniteWeights(variables: readonly tf.Variable[], epoch: number, learningRate: number): void {
  const probe = tf.tidy(() => tf.addN(variables.map((v) => tf.sum(tf.mul(v, 0)))));
  const value = probe.dataSync()[0];
  probe.dispose();
  if (value !== 0) {
    throw new DivergenceError(`weights stopped being finite at epoch ${epoch} (training diverged); try a smaller learning rate than ${learningRate}`);
  }
}
