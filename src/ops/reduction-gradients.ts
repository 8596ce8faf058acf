import * as tf from '@tensorflow/tfjs-core';

/**
 * The gradients of Sum and Mean: dy broadcast back over the reduced axes (divided by their size
 * for Mean). tfjs's (as tfjs-layers registers them) multiply dy by ones(x.shape), an array built
 * and filled in JavaScript and then uploaded: on webgpu that was 0.67 s of a 1 s WRN-pMoE
 * training step at w = 10 (batch norm's means over [batch, height, width] of 84 MB activations).
 * Here the broadcast is a Tile on the backend. Values are the same to the bit (dy * 1 = dy).
 */
function broadcastBack(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): { grad: tf.Tensor; reduced: number } {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const expanded = x.shape.map((size, i) => (axes.includes(i) ? 1 : size));
  const reduced = axes.reduce((product, a) => product * x.shape[a], 1);
  return { grad: tf.broadcastTo(tf.reshape(dy, expanded), x.shape), reduced };
}

const sumGradConfig: tf.GradConfig = {
  kernelName: 'Sum',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.SumAttrs;
    return { x: () => broadcastBack(dy as tf.Tensor, x, axis).grad };
  },
};

const meanGradConfig: tf.GradConfig = {
  kernelName: 'Mean',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    const { axis } = attrs as unknown as tf.MeanAttrs;
    return {
      x: () => {
        const { grad, reduced } = broadcastBack(dy as tf.Tensor, x, axis);
        return tf.div(grad, reduced);
      },
    };
  },
};

/** Registers both gradients (useFastKernels does). Idempotent. */
export function registerReductionGradients(): void {
  for (const config of [sumGradConfig, meanGradConfig]) if (tf.getGradient(config.kernelName) !== config) tf.registerGradient(config);
}
