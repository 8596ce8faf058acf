import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '../../ops/gather-rows.js';

/**
 * The experts' buffers as tensors, for routers whose gate is the router probability of the place's
 * (patch, expert): rows [k, places] (-1 where empty) and gates [k, places] = P[row, s] (0 where
 * empty), differentiable w.r.t. the probabilities P [rows, k].
 */
export function gatherGates(probabilities: tf.Tensor2D, rows: Int32Array, k: number, places: number): { rows: tf.Tensor2D; gates: tf.Tensor2D } {
  const [count] = probabilities.shape;
  return tf.tidy(() => {
    const picks = new Int32Array(k * places);
    const filled = new Float32Array(k * places);
    for (let s = 0; s < k; s++) {
      for (let i = 0; i < places; i++) {
        const row = rows[s * places + i];
        if (row >= 0) [picks[s * places + i], filled[s * places + i]] = [row * k + s, 1];
      }
    }
    const picked = gatherRows(tf.reshape(probabilities, [count * k, 1]) as tf.Tensor2D, tf.tensor1d(picks, 'int32'));
    const gates = tf.reshape(tf.mul(tf.reshape(picked, [k * places]), tf.tensor1d(filled)), [k, places]) as tf.Tensor2D;
    return { rows: tf.tensor2d(rows, [k, places], 'int32'), gates };
  });
}
