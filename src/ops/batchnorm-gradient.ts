import * as tf from '@tensorflow/tfjs-core';

/**
 * A gradient for FusedBatchNorm that multiplies by the per-channel factors through broadcasting.
 * tfjs's own expands them to the activation's full size with Tile, which is slow on wasm (a large
 * part of a Wide-ResNet training step). y = (x - mean) / sqrt(variance + eps) * scale + offset.
 */
const batchNormGradConfig: tf.GradConfig = {
  kernelName: 'FusedBatchNorm',
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const dOut = dy as tf.Tensor;
    const [x, mean, variance, scale] = saved;
    const epsilon = (attrs as { varianceEpsilon: number }).varianceEpsilon;
    const scaleOrOne = scale ?? tf.scalar(1);
    // Sum over every axis but the channels (the last), back to the parameter's own shape.
    const reduce = (value: tf.Tensor, like: tf.Tensor) =>
      tf.reshape(
        tf.sum(
          value,
          Array.from({ length: value.rank - 1 }, (_, i) => i),
        ),
        like.shape,
      );
    const inverseStd = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
    const scaledDy = tf.mul(dOut, scaleOrOne);
    const centred = tf.sub(x, mean);
    return {
      x: () => tf.mul(scaledDy, inverseStd),
      mean: () => reduce(tf.mul(scaledDy, tf.neg(inverseStd)), mean),
      variance: () => reduce(tf.mul(tf.mul(centred, scaledDy), tf.mul(tf.pow(inverseStd, 3), -0.5)), variance),
      scale: () => reduce(tf.mul(dOut, tf.mul(centred, inverseStd)), scale ?? mean),
      offset: () => reduce(dOut, mean),
    };
  },
};

/** Idempotent: replaces tfjs's FusedBatchNorm gradient. */
export function registerBatchNormGradient(): void {
  if (tf.getGradient('FusedBatchNorm') !== batchNormGradConfig) tf.registerGradient(batchNormGradConfig);
}
