import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients at all (the union package @tensorflow/tfjs
// does that); tfjs-layers' bundle registers all of core's gradient configs when it loads.
import '@tensorflow/tfjs-layers';

/**
 * dx is dValues scattered back to the positions the indices name along the last axis, zeros
 * elsewhere. Indices within a row are distinct, so a summing scatter is exact.
 */
function scatterLastAxis(dValues: tf.Tensor, indices: tf.Tensor, xShape: number[]): tf.Tensor {
  const n = xShape[xShape.length - 1];
  const k = indices.shape[indices.shape.length - 1];
  const rows = tf.util.sizeFromShape(xShape) / Math.max(n, 1);
  if (k === 0 || rows === 0) return tf.zeros(xShape);
  return tf.tidy(() => {
    const rowStarts = tf.reshape(tf.mul(tf.range(0, rows, 1, 'int32'), tf.scalar(n, 'int32')), [rows, 1]);
    const flatIndices = tf.reshape(tf.add(tf.reshape(indices, [rows, k]), rowStarts), [rows * k, 1]);
    const updates = tf.reshape(tf.cast(dValues, 'float32'), [rows * k]);
    return tf.reshape(tf.scatterND(flatIndices, updates, [rows * n]), xShape);
  });
}

const topKGradConfig: tf.GradConfig = {
  kernelName: 'TopK',
  // x only for its shape (a saved clone shares its data); the indices output says where to scatter.
  inputsToSave: ['x'],
  outputsToSave: [false, true],
  gradFunc: (dy, saved) => {
    const [x, indices] = saved;
    // Multi-output kernels get one dy per output; the indices output carries no gradient.
    const dValues = Array.isArray(dy) ? dy[0] : dy;
    return { x: () => scatterLastAxis(dValues, indices, x.shape) };
  },
};

/** Registers a gradient for TopK (tfjs has none on any backend). */
export function registerTopKGradient(): void {
  if (tf.getGradient('TopK') == null) tf.registerGradient(topKGradConfig);
}
