import * as tf from '@tensorflow/tfjs-core';

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

/**
 * Gradient of gather w.r.t. x for any axis and batchDims: view x as [batch, outer, dim, inner]
 * and dy as [batch, outer, perBatch, inner], then one summing scatter into batch*dim rows.
 * ScatterNd is native on wasm and a single pass on cpu, where UnsortedSegmentSum makes one
 * pass over dy per segment.
 */
function gatherGradX(dy: tf.Tensor, x: tf.Tensor, indices: tf.Tensor, axis: number, batchDims: number): tf.Tensor {
  const shape = x.shape;
  const batch = tf.util.sizeFromShape(shape.slice(0, batchDims));
  const outer = tf.util.sizeFromShape(shape.slice(batchDims, axis));
  const dim = shape[axis];
  const inner = tf.util.sizeFromShape(shape.slice(axis + 1));
  if (x.size === 0 || indices.size === 0) return tf.zeros(shape);
  const perBatch = indices.size / batch;
  return tf.tidy(() => {
    let values = tf.reshape(tf.cast(dy, 'float32'), [batch, outer, perBatch, inner]);
    // Skipped when outer is 1: even a no-op Transpose copies on wasm.
    if (outer > 1) values = tf.transpose(values, [0, 2, 1, 3]);
    const rows = tf.reshape(values, [batch * perBatch, outer * inner]);
    let ids = tf.reshape(indices, [batch, perBatch]);
    if (batch > 1) {
      ids = tf.add(ids, tf.reshape(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(dim, 'int32')), [batch, 1]));
    }
    const scattered = tf.scatterND(tf.reshape(ids, [batch * perBatch, 1]), rows, [batch * dim, outer * inner]);
    let grad = tf.reshape(scattered, [batch, dim, outer, inner]);
    if (outer > 1) grad = tf.transpose(grad, [0, 2, 1, 3]);
    return tf.reshape(grad, shape);
  });
}

/**
 * Replaces tfjs's GatherV2 gradient, which in this packaging (a) fails for batchDims 1 because it
 * calls chained tensor methods (x.split) that tfjs-core's Node bundle does not install, and
 * (b) returns the int32 indices as the "gradient" of the indices, which the tape rejects as soon as
 * the indices depend on a watched tensor, e.g. gathering by the indices of tf.topk of router scores.
 * Integer indices have no gradient: float zeros let the tape pass through.
 */
const gatherGradConfig: tf.GradConfig = {
  kernelName: 'GatherV2',
  inputsToSave: ['x', 'indices'],
  gradFunc: (dy, saved, attrs) => {
    const [x, indices] = saved;
    const { axis, batchDims } = attrs as unknown as tf.GatherV2Attrs;
    const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
    const parsedBatchDims = batchDims < 0 ? batchDims + indices.rank : batchDims;
    const dyTensor = Array.isArray(dy) ? dy[0] : dy;
    return {
      x: () => gatherGradX(dyTensor, x, indices, parsedAxis, parsedBatchDims),
      indices: () => tf.zeros(indices.shape),
    };
  },
};

/**
 * Registers a gradient for TopK (tfjs has none on any backend), and the GatherV2 gradient that
 * selecting by top-k indices needs (see gatherGradConfig). Idempotent.
 */
export function registerTopKGradient(): void {
  if (tf.getGradient('TopK') == null) tf.registerGradient(topKGradConfig);
  if (tf.getGradient('GatherV2') !== gatherGradConfig) tf.registerGradient(gatherGradConfig);
}
