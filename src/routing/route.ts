import * as tf from '@tensorflow/tfjs-core';
import { detach } from '../ops/detach.js';
import { gatherRows } from '../ops/gather-rows.js';
import { simdMatMul } from '../ops/rows-product.js';
import type { GateMode } from './gate.js';

/**
 * Which patches each expert took and with what gate.
 * Symbols of the paper: k experts, l patches per expert, J_s(x) = indices, G_{j,s} = gates.
 */
export type Routing = {
  /** [batch, k, l] int32 patch indices, highest score first; ties go to the lower patch index. */
  readonly indices: tf.Tensor3D;
  /** [batch, k, l] gate values G_{j,s} of the chosen patches, in the order of `indices`. */
  readonly gates: tf.Tensor3D;
};

/** Router scores g_{j,s} = <w_s, x^(j)>: patches [batch, n, d] and routers [d, k] give [batch, k, n]. */
export function patchScores(patches: tf.Tensor3D, routers: tf.Tensor2D): tf.Tensor3D {
  const [batch, n, d] = patches.shape;
  const k = routers.shape[1];
  return tf.tidy(() => {
    const scores = simdMatMul(tf.reshape(patches, [batch * n, d]), routers);
    return tf.transpose(tf.reshape(scores, [batch, n, k]), [0, 2, 1]);
  });
}

/**
 * Expert-choice selection: each expert takes the l highest-scoring patches of each image.
 * tf.topk orders equal scores by lower index on the cpu and wasm backends (tested), which is the
 * documented tie rule. The gate's gradient reaches the router through the top-l values; the
 * indices are integers and leave the gradient tape.
 */
export function route(scores: tf.Tensor3D, patchesPerExpert: number, gate: GateMode): Routing {
  return tf.tidy(() => {
    const selection = tf.topk(scores, patchesPerExpert, true);
    const values = selection.values;
    const indices = detach(selection.indices);
    let gates: tf.Tensor;
    if (gate === 'hard') {
      gates = tf.onesLike(values);
    } else if (gate === 'softmax-selected') {
      gates = tf.softmax(values);
    } else {
      // softmax over all n, read at the selected patches: exp(g - logsumexp over n). The shift by
      // the max is a constant (detached): tf.logSumExp differentiates through its max, whose
      // gradient (a broadcast Equal) is slow on wasm and adds exactly zero.
      const peak = detach(tf.max(scores, -1, true));
      const logSum = tf.add(peak, tf.log(tf.sum(tf.exp(tf.sub(scores, peak)), -1, true)));
      gates = tf.exp(tf.sub(values, logSum));
    }
    return { indices: indices as tf.Tensor3D, gates: gates as tf.Tensor3D };
  });
}

/**
 * Gathers the chosen patches expert by expert: patches [batch, n, d] and indices [batch, k, l]
 * give [k, batch * l, d], so each expert multiplies exactly batch * l rows (not batch * n).
 */
export function gatherForExperts(patches: tf.Tensor3D, indices: tf.Tensor3D): tf.Tensor3D {
  const [batch, n, d] = patches.shape;
  const [, k, l] = indices.shape;
  return tf.tidy(() => {
    const imageOffsets = tf.reshape(tf.range(0, batch * n, n, 'int32'), [1, batch, 1]);
    const rows = tf.reshape(tf.add(tf.transpose(indices, [1, 0, 2]), imageOffsets), [k * batch * l]);
    return tf.reshape(gatherRows(tf.reshape(patches, [batch * n, d]), rows as tf.Tensor1D), [k, batch * l, d]);
  });
}

/** Gates laid out like `gatherForExperts`'s rows: [batch, k, l] -> [k, batch * l, 1]. */
export function gatesForExperts(gates: tf.Tensor3D): tf.Tensor3D {
  const [batch, k, l] = gates.shape;
  return tf.tidy(() => tf.reshape(tf.transpose(gates, [1, 0, 2]), [k, batch * l, 1]));
}

/** Routing as plain arrays, for statistics and pictures. */
export interface RoutingArrays {
  readonly batch: number;
  readonly experts: number;
  readonly patchesPerExpert: number;
  /** [batch, k, l] row-major. */
  readonly indices: Int32Array;
  /** [batch, k, l] row-major. */
  readonly gates: Float32Array;
}

export async function routingToArrays(routing: Routing): Promise<RoutingArrays> {
  const [batch, experts, patchesPerExpert] = routing.indices.shape;
  const [indices, gates] = await Promise.all([routing.indices.data(), routing.gates.data()]);
  return { batch, experts, patchesPerExpert, indices: indices as Int32Array, gates: gates as Float32Array };
}
