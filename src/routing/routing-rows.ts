import * as tf from '@tensorflow/tfjs-core';

/**
 * The row lists a PatchMoE builds from its routing (indices [batch, k, l], row-major), in two
 * formulations that give the same lists: loops over indices read to the host, for backends whose
 * tensors live in host memory (there the read is a view, and tensor index arithmetic was slow on
 * wasm), and int32 tensor ops, for every other backend, where a read would be a synchronous
 * device-to-host copy on every call.
 * Symbols of the paper: k experts (s), l patches per expert (t), n patches per image.
 */

export function concatRows(lists: Int32Array[]): Int32Array {
  const all = new Int32Array(lists.reduce((sum, list) => sum + list.length, 0));
  let at = 0;
  for (const list of lists) {
    all.set(list, at);
    at += list.length;
  }
  return all;
}

/** Patch rows -> the rows of their pixels: patch r is pixel rows r * pixels .. r * pixels + pixels - 1. */
export function expandRows(patchRows: Int32Array, pixels: number): Int32Array {
  const rows = new Int32Array(patchRows.length * pixels);
  for (let i = 0; i < patchRows.length; i++) for (let q = 0; q < pixels; q++) rows[i * pixels + q] = patchRows[i] * pixels + q;
  return rows;
}

/** expertRows[s][b * l + t]: the row b * n + indices[b, s, t] of the [batch * n, d] patches. */
export function routingRows(indices: Int32Array, batch: number, k: number, l: number, n: number): Int32Array[] {
  const expertRows = Array.from({ length: k }, () => new Int32Array(batch * l));
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < k; s++) for (let t = 0; t < l; t++) expertRows[s][b * l + t] = b * n + indices[(b * k + s) * l + t];
  }
  return expertRows;
}

// ---------------------------------------------------------------------------------------------
// The same as int32 tensor ops, on rows laid out [batch, k, L] (L = l, or l * pixels for pixel
// rows). No int32 transpose: tfjs-backend-webgpu's does not compile, and pmoe's replacement reads
// the tensor back.

const int = (value: number) => tf.scalar(value, 'int32');

/** rows[b, s, t] = b * n + indices[b, s, t]: each chosen patch's row of the [batch * n, d] patches. */
export function patchRowsTensor(indices: tf.Tensor3D, n: number): tf.Tensor3D {
  const batch = indices.shape[0];
  return tf.tidy(() => tf.add(indices, tf.reshape(tf.range(0, batch * n, n, 'int32'), [batch, 1, 1])));
}

/** As expandRows: patch rows [batch, k, l] -> pixel rows [batch, k, l * pixels]. */
export function expandRowsTensor(rows: tf.Tensor3D, pixels: number): tf.Tensor3D {
  const [batch, k, l] = rows.shape;
  return tf.tidy(() => tf.reshape(tf.add(tf.mul(tf.expandDims(rows, 3), int(pixels)), tf.range(0, pixels, 1, 'int32')), [batch, k, l * pixels]));
}

/** As routingRows: expert s's rows in the order b * L + u, the slice s of rows [batch, k, L]. */
export function expertRowsTensor(rows: tf.Tensor3D): tf.Tensor1D[] {
  const [batch, k, width] = rows.shape;
  return tf.tidy(() => Array.from({ length: k }, (_, s) => tf.reshape(tf.slice(rows, [0, s, 0], [batch, 1, width]), [batch * width]) as tf.Tensor1D));
}
