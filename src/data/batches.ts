import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from './dataset.js';

/** A mini-batch as tensors: patches [batch, n, d] and labels [batch] int32. */
export interface Batch {
  readonly patches: tf.Tensor3D;
  readonly labels: tf.Tensor1D;
}

/** Copies the samples at `order[start..end)` into tensors. */
export function makeBatch(data: PatchDataset, order: ArrayLike<number>, start: number, end: number): Batch {
  const size = data.patchCount * data.patchDim;
  const count = end - start;
  const patches = new Float32Array(count * size);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const sample = order[start + i];
    patches.set(data.patches.subarray(sample * size, (sample + 1) * size), i * size);
    labels[i] = data.labels[sample];
  }
  return {
    patches: tf.tensor3d(patches, [count, data.patchCount, data.patchDim]),
    labels: tf.tensor1d(labels, 'int32'),
  };
}

/** Calls `visit` on consecutive batches of the whole set in its stored order, disposing each. */
export function forEachBatch(data: PatchDataset, batchSize: number, visit: (batch: Batch, start: number) => void): void {
  const size = data.patchCount * data.patchDim;
  for (let start = 0; start < data.count; start += batchSize) {
    const end = Math.min(start + batchSize, data.count);
    const batch: Batch = {
      patches: tf.tensor3d(data.patches.subarray(start * size, end * size), [end - start, data.patchCount, data.patchDim]),
      labels: tf.tensor1d(data.labels.subarray(start, end), 'int32'),
    };
    try {
      visit(batch, start);
    } finally {
      batch.patches.dispose();
      batch.labels.dispose();
    }
  }
}
