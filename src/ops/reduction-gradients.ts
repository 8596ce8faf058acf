import * as tf from '@tensorflow/tfjs-core';

/**
 * Sum's or Mean's gradient config: dy broadcast back over the reduced axes (divided by their size
 * for Mean), as dy times ones of x's shape. tfjs's (as tfjs-layers registers them) make those
 * ones with tf.ones, an array built and filled in JavaScript and then uploaded: on webgpu that was
 * a large part of a WRN-pMoE training step at w = 10 (batch norm's means over [batch, height, width] of
 * large activations). Here they are a Fill on the backend (on the GPU there). A broadcastTo would
 * skip the product, but wasm's Tile is slower than the product with filled ones (CHANGELOG.md).
 * Values are the same to the bit (dy * 1 = dy).
 */
function reductionGradient(kernelName: 'Sum' | 'Mean'): tf.GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const axes = tf.util.parseAxisParam((attrs as unknown as tf.SumAttrs).axis, x.shape);
      const expanded = x.shape.map((size, i) => (axes.includes(i) ? 1 : size));
      const reduced = axes.reduce((product, a) => product * x.shape[a], 1);
      return {
        x: () => {
          const grad = tf.mul(tf.reshape(dy as tf.Tensor, expanded), tf.fill(x.shape, 1));
          return kernelName === 'Mean' ? tf.div(grad, reduced) : grad;
        },
      };
    },
  };
}

const configs = [reductionGradient('Sum'), reductionGradient('Mean')];

/** Registers both gradients (useFastKernels does). Idempotent. */
export function registerReductionGradients(): void {
  for (const config of configs) if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
}
