import * as tf from '@tensorflow/tfjs-core';
import { gatherRows, placeRows } from '../ops/gather-rows.js';
import { expertOutputs, expertTargets, plainExpertOutputs } from '../ops/expert-outputs.js';
import { concatRows, expandRows, expandRowsTensor } from './routing-rows.js';
import type { SoftDispatch, SparseDispatch } from './router.js';

/**
 * The PatchMoE layer's experts on a dispatch (./router.ts), patch rows in, patch rows out.
 * Symbols: k experts, n patches per image, P places per expert, `pixels` = ph pw per patch,
 * C input channels, f filters per expert.
 *
 * How the experts' outputs come back (`combine`):
 * - `concat` (the paper's): each patch gets every expert's output in the expert's own f channels,
 *   gated; zeros where the expert did not take it. [batch n, pixels k f], expert-major per pixel.
 * - `sum` (tutel, DeepSpeed-MoE, V-MoE): each patch gets the gated sum of its experts' outputs,
 *   [batch n, pixels f].
 * A patch no expert took is zero, or with `untaken: 'pass'` its input unchanged (the output must
 * then be as wide as the input).
 */
export type Combine = 'concat' | 'sum';
export const COMBINES = ['concat', 'sum'] as const;
export type Untaken = 'zero' | 'pass';
export const UNTAKEN = ['zero', 'pass'] as const;

/** The experts' weights: kernels [kernelSize, kernelSize, C, f] and biases [f] (none without bias). */
export interface ExpertWeights {
  readonly kernels: readonly tf.Tensor4D[];
  readonly biases: readonly tf.Tensor1D[];
}

export interface PatchShape {
  readonly batch: number;
  /** n. */
  readonly patches: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly filters: number;
  readonly kernelSize: number;
}

/**
 * Where each place's row comes from and goes to: a place holding patch row r reads and writes row
 * r; an empty place (row -1) reads and writes its own spare row past the patches (zero in, cut off
 * out), so every expert's rows stay distinct. `spare` is the number of spare rows (0 when every place is full).
 */
function placeRowsOf(rows: Int32Array, k: number, patchRows: number): { rows: Int32Array; spare: number } {
  const places = rows.length / k;
  let empty = false;
  for (let i = 0; i < rows.length && !empty; i++) empty = rows[i] < 0;
  if (!empty) return { rows, spare: 0 };
  const mapped = Int32Array.from(rows, (row, i) => (row >= 0 ? row : patchRows + (i % places)));
  return { rows: mapped, spare: places };
}

/** The same on tensors (rows [k, P] int32): empty place i goes to spare row patchRows + i. */
function placeRowsTensor(rows: tf.Tensor2D, patchRows: number): tf.Tensor2D {
  const [k, places] = rows.shape;
  return tf.tidy(() => {
    const spare = tf.add(tf.reshape(tf.range(0, places, 1, 'int32'), [1, places]), tf.scalar(patchRows, 'int32'));
    return tf.where(tf.greaterEqual(rows, tf.scalar(0, 'int32')), rows, tf.tile(spare, [k, 1])) as tf.Tensor2D;
  });
}

/** Appends `count` zero rows to x [R, w]. */
function withSpareRows(x: tf.Tensor2D, count: number): tf.Tensor2D {
  return count === 0 ? x : (tf.concat([x, tf.zeros([count, x.shape[1]])]) as tf.Tensor2D);
}

/**
 * A sparse dispatch's experts: patches [batch n, pixels C] in, [batch n, pixels k f] out (concat
 * layout; combineRows turns it into `sum`). `hostRows`: the dispatch's rows read to the host (cpu,
 * wasm), else the row lists are built with int32 tensor ops.
 */
export function sparseExperts(dispatch: SparseDispatch, patches: tf.Tensor2D, shape: PatchShape, experts: ExpertWeights, hostRows?: Int32Array): tf.Tensor2D {
  const { batch, patches: n, height: ph, width: pw, channels, filters: f, kernelSize } = shape;
  const [k, places] = dispatch.rows.shape;
  const pixels = ph * pw;
  const patchRows = batch * n;
  return tf.tidy(() => {
    const mapped = hostRows ? placeRowsOf(hostRows, k, patchRows) : undefined;
    const rowsTensor = mapped ? undefined : dispatch.full ? dispatch.rows : placeRowsTensor(dispatch.rows, patchRows);
    const spare = mapped ? mapped.spare : dispatch.full ? 0 : places;
    const gates = dispatch.unitGates ? tf.ones([k, places]) : dispatch.gates;
    if (kernelSize === 1) {
      // A 1x1 expert is a product of its chosen pixels' channels with [C, f]; on pixel rows
      // [batch n pixels, C], each expert's output row is its input row, in its own channels.
      const rows = withSpareRows(tf.reshape(patches, [patchRows * pixels, channels]) as tf.Tensor2D, spare * pixels);
      const gateRows = (pixels === 1 ? gates : tf.reshape(tf.tile(tf.expandDims(gates, 2), [1, 1, pixels]), [k, places * pixels])) as tf.Tensor2D;
      const kernels = experts.kernels.map((w) => tf.reshape(w, [channels, f]) as tf.Tensor2D);
      const biases = [...experts.biases];
      let placed: tf.Tensor2D;
      if (mapped) {
        const perExpert = Array.from({ length: k }, (_, s) => mapped.rows.subarray(s * places, (s + 1) * places));
        placed = expertOutputs(rows, concatRows(perExpert.map((r) => (pixels === 1 ? r : expandRows(r, pixels)))), gateRows, kernels, biases);
      } else {
        const pixelRows = pixels === 1 ? rowsTensor! : expandRowsTensor(rowsTensor!, pixels);
        const perExpert = Array.from({ length: k }, (_, s) => tf.reshape(tf.slice(pixelRows, [s, 0], [1, places * pixels]), [places * pixels]) as tf.Tensor1D);
        placed = plainExpertOutputs(rows, perExpert, gateRows, kernels, biases);
      }
      // [batch n pixels, k f] is [batch n, pixels k f]: expert-major channels inside each pixel.
      const kept = spare === 0 ? placed : tf.slice(placed, [0, 0], [patchRows * pixels, k * f]);
      return tf.reshape(kept, [patchRows, pixels * k * f]) as tf.Tensor2D;
    }
    const expertRows = mapped
      ? Array.from({ length: k }, (_, s) => tf.tensor1d(mapped.rows.subarray(s * places, (s + 1) * places), 'int32'))
      : Array.from({ length: k }, (_, s) => tf.reshape(tf.slice(rowsTensor!, [s, 0], [1, places]), [places]) as tf.Tensor1D);
    const rows = withSpareRows(tf.reshape(patches, [patchRows, pixels * channels]) as tf.Tensor2D, spare);
    const perExpert = expertRows.map((expertRow, s) => {
      // One mini-image per gathered patch.
      const images = tf.reshape(gatherRows(rows, expertRow), [places, ph, pw, channels]) as tf.Tensor4D;
      const y = tf.fused.conv2d({ x: images, filter: experts.kernels[s], strides: 1, pad: 'same', bias: experts.biases[s] });
      return tf.reshape(y, [places, pixels * f]);
    });
    let outputs = tf.stack(perExpert) as tf.Tensor3D; // [k, P, pixels f]
    if (!dispatch.unitGates) outputs = tf.mul(outputs, tf.expandDims(dispatch.gates, 2));
    // Back to the patches' places (spare ones cut off): [(batch n + spare) k, pixels f].
    const placed = placeRows(tf.reshape(outputs, [k * places, pixels * f]) as tf.Tensor2D, expertTargets(expertRows), (patchRows + spare) * k);
    const kept = spare === 0 ? placed : tf.slice(placed, [0, 0], [patchRows * k, pixels * f]);
    // Expert-major channels inside each pixel of the patch.
    return tf.reshape(tf.transpose(tf.reshape(kept, [patchRows, k, pixels, f]), [0, 2, 1, 3]), [patchRows, pixels * k * f]) as tf.Tensor2D;
  });
}

/**
 * Soft MoE's experts: each slot's input is its dispatch mix of the image's patches; each patch's
 * output mixes the slots' outputs by its combine weights, expert by expert ([batch n, pixels k f], concat layout).
 */
export function softExperts(dispatch: SoftDispatch, patches: tf.Tensor2D, shape: PatchShape, experts: ExpertWeights): tf.Tensor2D {
  const { batch, patches: n, height: ph, width: pw, channels, filters: f } = shape;
  const { slots } = dispatch;
  const k = experts.kernels.length;
  const pixels = ph * pw;
  return tf.tidy(() => {
    const mixed = tf.matMul(dispatch.dispatch, tf.reshape(patches, [batch, n, pixels * channels])); // [batch, k p, pixels C]
    const perExpert = experts.kernels.map((kernel, s) => {
      const inputs = tf.slice(mixed, [0, s * slots, 0], [batch, slots, pixels * channels]);
      const images = tf.reshape(inputs, [batch * slots, ph, pw, channels]) as tf.Tensor4D;
      const y = tf.fused.conv2d({ x: images, filter: kernel, strides: 1, pad: 'same', bias: experts.biases[s] });
      const out = tf.reshape(y, [batch * slots, pixels * f]);
      const weights = tf.slice(dispatch.combine, [0, 0, s * slots], [batch, n, slots]); // [batch, n, p]
      return tf.matMul(weights, tf.reshape(out, [batch, slots, pixels * f])); // [batch, n, pixels f]
    });
    // [batch, n, k, pixels, f] -> expert-major channels inside each pixel.
    const stacked = tf.reshape(tf.stack(perExpert, 2), [batch * n, k, pixels, f]);
    return tf.reshape(tf.transpose(stacked, [0, 2, 1, 3]), [batch * n, pixels * k * f]) as tf.Tensor2D;
  });
}

/** The concat layout [batch n, pixels k f] as `combine` asks: itself, or each pixel's k blocks summed ([batch n, pixels f]). */
export function combineRows(placed: tf.Tensor2D, combine: Combine, experts: number, pixels: number, filters: number): tf.Tensor2D {
  if (combine === 'concat') return placed;
  return tf.tidy(
    () => tf.reshape(tf.sum(tf.reshape(placed, [placed.shape[0], pixels, experts, filters]), 2), [placed.shape[0], pixels * filters]) as tf.Tensor2D,
  );
}

/** 1 for each patch row some place holds, 0 for the rest: [batch n, 1]. */
export function takenPatches(dispatch: SparseDispatch, patchRows: number): tf.Tensor2D {
  return tf.tidy(() => {
    const rows = tf.reshape(dispatch.rows, [-1]);
    const valid = tf.greaterEqual(rows, tf.scalar(0, 'int32'));
    const segments = tf.where(valid, rows, tf.fill(rows.shape, patchRows, 'int32')) as tf.Tensor1D;
    const counts = tf.unsortedSegmentSum(tf.cast(valid, 'float32'), segments, patchRows + 1);
    return tf.reshape(tf.cast(tf.greater(tf.slice(counts, [0], [patchRows]), 0), 'float32'), [patchRows, 1]) as tf.Tensor2D;
  });
}
