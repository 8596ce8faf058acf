import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean classification loss. Binary (one logit f): the paper's logistic loss log(1 + exp(-y f))
 * with y = +1 for class 0 and -1 for class 1. Multiclass: softmax cross-entropy.
 */
export function classificationLoss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    if (logits.shape[1] === 1) {
      const signs = tf.sub(1, tf.mul(2, tf.cast(labels, 'float32')));
      return tf.mean(tf.softplus(tf.neg(tf.mul(signs, tf.reshape(logits, [-1])))));
    }
    const targets = tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1]);
    return tf.losses.softmaxCrossEntropy(targets, logits) as tf.Scalar;
  });
}

/** Predicted class per sample: binary f > 0 means class 0 (y = +1). */
export function predictions(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() =>
    logits.shape[1] === 1 ? (tf.cast(tf.lessEqual(tf.reshape(logits, [-1]), 0), 'int32') as tf.Tensor1D) : (tf.argMax(logits, 1) as tf.Tensor1D),
  );
}
