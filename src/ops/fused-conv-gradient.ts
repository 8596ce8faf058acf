import * as tf from '@tensorflow/tfjs-core';

/**
 * A gradient for the FusedConv2D kernel (linear activation, NHWC, undilated), so that a layer can
 * run that kernel directly and leave its gradients to the tape. tfjs's fused conv2d op wraps the
 * kernel in a custom gradient that computes dx, dW and db eagerly; the tape's lazy gradients skip
 * dx where nothing needs it, as for a model's first convolution on its input images. The same kernels and sums as tfjs's, so the same values.
 */
const fusedConvGradConfig: tf.GradConfig = {
  kernelName: 'FusedConv2D',
  inputsToSave: ['x', 'filter', 'bias'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter, bias] = saved;
    const { strides, pad, dataFormat, dimRoundingMode, dilations, activation } = attrs as unknown as tf.FusedConv2DAttrs;
    const undilated = typeof dilations === 'number' ? dilations === 1 : dilations.every((d) => d === 1);
    if (activation !== 'linear' || dataFormat !== 'NHWC' || !undilated) {
      throw new Error(`FusedConv2D's gradient: only linear, NHWC and undilated convolutions (got ${activation}, ${dataFormat}, dilations ${dilations})`);
    }
    const gradient = dy as tf.Tensor4D;
    const convAttrs = { strides, pad, dataFormat, dimRoundingMode };
    return {
      x: () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropInput', { dy: gradient, filter }, { ...convAttrs, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      filter: () =>
        tf
          .engine()
          .runKernel('Conv2DBackpropFilter', { x, dy: gradient }, { ...convAttrs, filterShape: filter.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
      bias: () => tf.reshape(tf.sum(gradient, [0, 1, 2]), bias.shape),
    };
  },
};

/** Registers the gradient (useFastKernels does). Idempotent. */
export function registerFusedConvGradient(): void {
  if (tf.getGradient('FusedConv2D') !== fusedConvGradConfig) tf.registerGradient(fusedConvGradConfig);
}

/** Whether this gradient is the registered one (a layer that relies on it falls back otherwise). */
export function fusedConvGradientInstalled(): boolean {
  return tf.getGradient('FusedConv2D') === fusedConvGradConfig;
}
