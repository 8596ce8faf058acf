import * as tf from '@tensorflow/tfjs-core';

/**
 * The row lists the PatchMoE layer's experts gather and place (routing/patch-experts.ts), built two
 * ways that give the same lists: loops over rows read to the host, for backends whose tensors live
 * in host memory (there the read is a view, and tensor index arithmetic was slow on wasm), and int32
 * tensor ops, for every other backend, where a read would be a synchronous device-to-host copy on
 * every call. No int32 transpose: tfjs-backend-webgpu's does not compile.
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

/** As expandRows on each expert's rows [k, P] -> [k, P pixels]. */
export function expandRowsTensor(rows: tf.Tensor2D, pixels: number): tf.Tensor2D {
  const [k, places] = rows.shape;
  return tf.tidy(
    () => tf.reshape(tf.add(tf.mul(tf.expandDims(rows, 2), tf.scalar(pixels, 'int32')), tf.range(0, pixels, 1, 'int32')), [k, places * pixels]) as tf.Tensor2D,
  );
}
