import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import type { RoutedPatchModel } from '../models/patch-model.js';
import type { RoutingArrays } from '../routing/route.js';
import { forEachBatch } from '../data/batches.js';

/**
 * How a discriminative patch counts as well routed.
 * - `separate` (Lemma 4.1): it is among the top l patches of its class's expert (expert c for class c).
 * - `joint` (Assumption 4.4): some expert selects it and gives it the largest gate among that
 *   expert's selected patches.
 */
export type RoutingCriterion = 'separate' | 'joint';

export interface RoutingRate {
  /** Share of samples (with a known discriminative patch) routed as the criterion asks, in [0, 1]. */
  readonly rate: number;
  /** The same share per class. */
  readonly perClass: readonly number[];
  /** Samples counted (those whose discriminative patch is known). */
  readonly samples: number;
}

function routedWell(routing: RoutingArrays, sample: number, label: number, target: number, criterion: RoutingCriterion): boolean {
  const { experts, patchesPerExpert: l, indices, gates } = routing;
  const base = sample * experts * l;
  if (criterion === 'separate') {
    if (label >= experts) return false;
    for (let t = 0; t < l; t++) if (indices[base + label * l + t] === target) return true;
    return false;
  }
  for (let s = 0; s < experts; s++) {
    const row = base + s * l;
    let largest = -Infinity;
    let targetGate = -Infinity;
    for (let t = 0; t < l; t++) {
      largest = Math.max(largest, gates[row + t]);
      if (indices[row + t] === target) targetGate = gates[row + t];
    }
    if (targetGate !== -Infinity && targetGate >= largest) return true;
  }
  return false;
}

/** Discriminative-routing rate of a routing over `data` (the routing's samples are data's, in order). */
export function discriminativeRoutingRate(routing: RoutingArrays, data: PatchDataset, criterion: RoutingCriterion): RoutingRate {
  if (routing.batch !== data.count) {
    throw new RangeError(`routing covers ${routing.batch} samples but the data has ${data.count}`);
  }
  const hits = new Array<number>(data.classes).fill(0);
  const totals = new Array<number>(data.classes).fill(0);
  for (let i = 0; i < data.count; i++) {
    const target = data.discriminativePatch[i];
    if (target < 0) continue;
    const label = data.labels[i];
    totals[label]++;
    if (routedWell(routing, i, label, target, criterion)) hits[label]++;
  }
  const samples = totals.reduce((a, b) => a + b, 0);
  const hit = hits.reduce((a, b) => a + b, 0);
  return {
    rate: samples === 0 ? NaN : hit / samples,
    perClass: hits.map((h, c) => (totals[c] === 0 ? NaN : h / totals[c])),
    samples,
  };
}

/** Runs the model over the whole set and returns its routing as arrays. */
export function collectRouting(model: RoutedPatchModel, data: PatchDataset, batchSize = 500): RoutingArrays {
  const chunks: { indices: Int32Array; gates: Float32Array }[] = [];
  let experts = 0;
  let patchesPerExpert = 0;
  forEachBatch(data, batchSize, (batch) => {
    const routing = model.routing(batch.patches);
    [, experts, patchesPerExpert] = routing.indices.shape;
    chunks.push({ indices: routing.indices.dataSync() as Int32Array, gates: routing.gates.dataSync() as Float32Array });
    tf.dispose([routing.indices, routing.gates]);
  });
  const per = experts * patchesPerExpert;
  const indices = new Int32Array(data.count * per);
  const gates = new Float32Array(data.count * per);
  let offset = 0;
  for (const chunk of chunks) {
    indices.set(chunk.indices, offset);
    gates.set(chunk.gates, offset);
    offset += chunk.indices.length;
  }
  return { batch: data.count, experts, patchesPerExpert, indices, gates };
}

/**
 * Separate routing's rate at every l at once: entry l - 1 is the share of samples whose
 * discriminative patch is among the top l patches of its class's router (ties to the lower index,
 * as in routing). The routers of separate training do not depend on l, so one run gives the
 * whole curve (Figure 8).
 */
export function separateRoutingCurve(routers: tf.Tensor2D, data: PatchDataset, batchSize = 500): number[] {
  const { patchCount: n, count } = data;
  const k = routers.shape[1];
  const atRank = new Array<number>(n).fill(0);
  let samples = 0;
  forEachBatch(data, batchSize, (batch, start) => {
    const scores = tf.tidy(() => tf.matMul(tf.reshape(batch.patches, [-1, data.patchDim]), routers)).dataSync(); // [b * n, k]
    const rows = batch.labels.shape[0];
    for (let i = 0; i < rows; i++) {
      const target = data.discriminativePatch[start + i];
      const expert = data.labels[start + i];
      if (target < 0 || expert >= k) continue;
      const own = scores[(i * n + target) * k + expert];
      let rank = 0;
      for (let j = 0; j < n; j++) {
        const score = scores[(i * n + j) * k + expert];
        if (score > own || (score === own && j < target)) rank++;
      }
      atRank[rank]++;
      samples++;
    }
  });
  let cumulative = 0;
  return samples === 0 || count === 0 ? atRank.map(() => NaN) : atRank.map((hits) => (cumulative += hits) / samples);
}
