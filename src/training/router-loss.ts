import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../data/batches.js';

/**
 * The separate regime's router loss (eq. 6), for k = c routers:
 * l_r = -(1/B) sum_i sum_s (c 1[y_i = s] - 1) <w_s, sum_j x_i^(j)>.
 * For c = 2 this is exactly -(1/B) sum_i y_i <w_1 - w_2, sum_j x_i^(j)>; for c > 2 it is the sum
 * of the binary losses over all pairs of classes (Appendix M's pairwise training).
 */
export function routerLinearLoss(routers: tf.Tensor2D, batch: Batch): tf.Scalar {
  return tf.tidy(() => {
    const k = routers.shape[1];
    const patchSums = tf.sum(batch.patches, 1) as tf.Tensor2D;
    const scores = tf.matMul(patchSums, routers);
    const coefficients = tf.sub(tf.mul(tf.oneHot(batch.labels, k), k), 1);
    return tf.neg(tf.mean(tf.sum(tf.mul(coefficients, scores), 1))) as tf.Scalar;
  });
}
