import * as tf from '@tensorflow/tfjs-core';
import { tfSeed } from '../util/random.js';

/**
 * The fixed second layer a_{r,s} (never trained, as in the paper).
 * - `gaussian`: a ~ N(0, 1) (the paper).
 * - `expert-sign`: constant weights by expert (the official separate-training code: +1 for
 *   expert 1, -1 for expert 2). Multiclass: expert s votes +1 for class s mod c and -1/(c-1)
 *   for the others; a CNN treats each neuron as its own expert.
 */
export const OUTPUT_WEIGHTS = ['gaussian', 'expert-sign'] as const;
export type OutputWeights = (typeof OUTPUT_WEIGHTS)[number];

/** Number of logits: one for binary (f in the paper's {+1, -1} convention), c otherwise. */
export function logitCount(classes: number): number {
  return classes === 2 ? 1 : classes;
}

/**
 * [experts * neuronsPerExpert, logits] output weights, neurons grouped expert by expert.
 */
export function makeOutputWeights(scheme: OutputWeights, experts: number, neuronsPerExpert: number, classes: number, seed: number): tf.Tensor2D {
  const logits = logitCount(classes);
  const rows = experts * neuronsPerExpert;
  if (scheme === 'gaussian') return tf.randomNormal([rows, logits], 0, 1, 'float32', tfSeed(seed));
  const values = new Float32Array(rows * logits);
  for (let row = 0; row < rows; row++) {
    const expert = Math.floor(row / neuronsPerExpert);
    if (logits === 1) {
      values[row] = expert % 2 === 0 ? 1 : -1;
    } else {
      for (let c = 0; c < logits; c++) values[row * logits + c] = c === expert % classes ? 1 : -1 / (classes - 1);
    }
  }
  return tf.tensor2d(values, [rows, logits]);
}
