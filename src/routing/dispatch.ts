import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '../ops/gather-rows.js';
import type { Routing } from './route.js';
import type { Dispatch } from './router.js';

/**
 * What models do with a dispatch (./router.ts): fill the experts' buffers with their inputs, read
 * the places' gates, sum gated expert outputs per image, and show the routing image by image.
 * Symbols: k experts, n patches per image, P places per expert, d values per patch.
 */

/** Patch rows [batch n, d] -> each expert's inputs [k, P, d]: gathered rows (row 0 in an empty place, whose gate is 0) or Soft MoE's slot mixtures. */
export function expertInputs(dispatch: Dispatch, patches: tf.Tensor2D, batch: number): tf.Tensor3D {
  return tf.tidy(() => {
    const d = patches.shape[1];
    if (dispatch.kind === 'soft') {
      const { dispatch: weights, slots } = dispatch;
      const n = weights.shape[2];
      const k = weights.shape[1] / slots;
      const mixed = tf.matMul(weights, tf.reshape(patches, [batch, n, d])); // [batch, k p, d]
      return tf.reshape(tf.transpose(tf.reshape(mixed, [batch, k, slots, d]), [1, 0, 2, 3]), [k, batch * slots, d]) as tf.Tensor3D;
    }
    const [k, places] = dispatch.rows.shape;
    const rows = tf.maximum(tf.reshape(dispatch.rows, [k * places]), tf.scalar(0, 'int32')) as tf.Tensor1D;
    return tf.reshape(gatherRows(patches, rows), [k, places, d]) as tf.Tensor3D;
  });
}

/** The gate of each place [k, P]: a sparse router's gates; for Soft MoE each slot's combine weights summed over its image's patches. */
export function placeGates(dispatch: Dispatch): tf.Tensor2D {
  if (dispatch.kind === 'sparse') return dispatch.gates;
  return tf.tidy(() => {
    const { combine, slots } = dispatch;
    const batch = combine.shape[0];
    const k = combine.shape[2] / slots;
    const perSlot = tf.sum(combine, 1); // [batch, k p]
    return tf.reshape(tf.transpose(tf.reshape(perSlot, [batch, k, slots]), [1, 0, 2]), [k, batch * slots]) as tf.Tensor2D;
  });
}

/** Places per image where each image has its own (undefined when a place may hold any image's patch). */
export function slotsPerImage(dispatch: Dispatch): number | undefined {
  return dispatch.kind === 'soft' ? dispatch.slots : dispatch.slotsPerImage;
}

/** values [k, P, h] (already gated) summed over each image's places: [k, batch, h]. */
export function sumPerImage(values: tf.Tensor3D, dispatch: Dispatch, batch: number, patches: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [k, places, h] = values.shape;
    const slots = slotsPerImage(dispatch);
    if (slots !== undefined) return tf.sum(tf.reshape(values, [k, batch, slots, h]), 2) as tf.Tensor3D;
    // Any image's patch in any place: a segment sum by the image each place's row belongs to (an
    // empty place counts for image 0; its value is gated to 0).
    const rows = (dispatch as { rows: tf.Tensor2D }).rows;
    const expertOffsets = tf.reshape(tf.range(0, k * batch, batch, 'int32'), [k, 1]);
    const images = tf.floorDiv(tf.maximum(rows, tf.scalar(0, 'int32')), tf.scalar(patches, 'int32'));
    const segments = tf.reshape(tf.add(images, expertOffsets), [k * places]) as tf.Tensor1D;
    return tf.reshape(tf.unsortedSegmentSum(tf.reshape(values, [k * places, h]), segments, k * batch), [k, batch, h]) as tf.Tensor3D;
  });
}

/**
 * The routing image by image [batch, k, S] (Routing): the patch index each place holds (-1 where
 * none) and its gate. Per-image routers give their S = slots places as they are; routers over a
 * group give each image's patches of each expert in buffer order, S = n places, -1 after the last;
 * Soft MoE gives each slot's largest dispatch weight and its patch.
 */
export function routingView(dispatch: Dispatch, batch: number, patches: number): Routing {
  return tf.tidy(() => {
    if (dispatch.kind === 'soft') {
      const { dispatch: weights, slots } = dispatch;
      const k = weights.shape[1] / slots;
      const indices = tf.reshape(tf.argMax(weights, 2), [batch, k, slots]);
      return { indices: tf.cast(indices, 'int32') as tf.Tensor3D, gates: tf.reshape(tf.max(weights, 2), [batch, k, slots]) as tf.Tensor3D };
    }
    const [k, places] = dispatch.rows.shape;
    if (dispatch.slotsPerImage !== undefined) {
      const slots = dispatch.slotsPerImage;
      const offsets = tf.reshape(tf.range(0, batch * patches, patches, 'int32'), [batch, 1, 1]);
      const rows = tf.transpose(tf.reshape(dispatch.rows, [k, batch, slots]), [1, 0, 2]);
      const taken = tf.greaterEqual(rows, tf.scalar(0, 'int32'));
      const indices = tf.where(taken, tf.sub(rows, offsets), tf.fill(rows.shape, -1, 'int32'));
      return { indices: indices as tf.Tensor3D, gates: tf.transpose(tf.reshape(dispatch.gates, [k, batch, slots]), [1, 0, 2]) as tf.Tensor3D };
    }
    const rows = dispatch.rows.dataSync();
    const gates = dispatch.gates.dataSync();
    const indices = new Int32Array(batch * k * patches).fill(-1);
    const viewGates = new Float32Array(batch * k * patches);
    const count = new Int32Array(batch * k);
    for (let s = 0; s < k; s++) {
      for (let i = 0; i < places; i++) {
        const row = rows[s * places + i];
        if (row < 0) continue;
        const b = Math.floor(row / patches);
        const at = (b * k + s) * patches + count[b * k + s]++;
        indices[at] = row - b * patches;
        viewGates[at] = gates[s * places + i];
      }
    }
    return { indices: tf.tensor3d(indices, [batch, k, patches], 'int32'), gates: tf.tensor3d(viewGates, [batch, k, patches]) };
  });
}
