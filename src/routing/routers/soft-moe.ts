import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { integer } from '../../util/options.js';
import type { Floats, HostScores, Router, RouterInput, RouterShape, SoftDispatch, SoftHostRouter, SoftHostState, StridedRows } from '../router.js';
import { auxiliaryWeights } from '../sparse-router.js';

/**
 * Soft MoE (Puigcerver et al. 2023, "From Sparse to Soft Mixtures of Experts"; vmoe's
 * projects/soft_moe/router.py): every expert has p slots, each a convex mix of all of its image's
 * patches. Patches and slot parameters are L2-normalised (x / sqrt(|x|^2 + 1e-6)) and their
 * products scaled by a learned scalar (initially 1): logits [batch, n, k p]. Dispatch weights
 * are a softmax over the n patches (each slot mixes patches), combine weights a softmax over the
 * k p slots (each patch mixes the slots' outputs). No patch is dropped and no expert idles; nothing
 * is sparse. The slot parameters are the router kernel [d, k p], slot t of expert s at column s p + t.
 * Matched compute with the paper's router: p = l (the default).
 */
export const softMoeSchema = z
  .object({
    name: z.literal('soft-moe'),
    /** p: slots per expert per image; default the model's l. */
    slotsPerExpert: integer(1).optional(),
  })
  .strict();
export type SoftMoeConfig = z.output<typeof softMoeSchema>;

/** The normalisation's epsilon (the Soft MoE code's). */
export const SOFT_MOE_EPSILON = 1e-6;
const EPSILON = SOFT_MOE_EPSILON;

function normalise(x: tf.Tensor2D, axis: number): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), axis, true), EPSILON)));
}

export function createSoftMoe(config: SoftMoeConfig, shape: RouterShape): Router {
  const slots = config.slotsPerExpert ?? shape.patchesPerExpert;
  const resolved = { ...config, slotsPerExpert: slots };
  const { patches: n, experts: k } = shape;
  const reference = (input: RouterInput): SoftDispatch =>
    tf.tidy(() => {
      const scale = input.weights?.scale;
      if (!scale) throw new Error('soft-moe router: its weight `scale` is missing');
      const logits = tf.mul(tf.matMul(normalise(input.patches, 1), normalise(input.kernel, 0)), scale);
      const perImage = tf.reshape(logits, [input.batch, n, k * slots]) as tf.Tensor3D;
      return {
        kind: 'soft' as const,
        dispatch: tf.softmax(tf.transpose(perImage, [0, 2, 1])) as tf.Tensor3D,
        combine: tf.softmax(perImage) as tf.Tensor3D,
        slots,
        metrics: tf.zeros([4]) as tf.Tensor1D,
      };
    });
  return {
    config: resolved,
    shape,
    scoreColumns: k * slots,
    extraWeights: { scale: { shape: [], initialValue: 1 } },
    drawsNoise: false,
    auxiliaryWeights: auxiliaryWeights({}),
    differentiable: true,
    soft: new SoftMoeHost(n, k * slots),
    route: reference,
    reference,
  };
}

/**
 * Soft MoE's routing on plain arrays (the fused step's kernel), for a batch of images of n patch
 * rows each and kp = k p slot columns:
 *   logits L[r, c] = scale <x_r / |x_r|, mu_c / |mu_c|> (|v| = sqrt(v.v + 1e-6)), from the
 *     products P = X (mu normalised) and each row's norm;
 *   dispatch D[r, c] = softmax over the n rows of r's image of L[., c];
 *   combine C[r, c] = softmax over the kp columns of L[r, .].
 * `backward` takes dD and dC back to dL, then to the products and the scale.
 */
export class SoftMoeHost implements SoftHostRouter {
  constructor(
    readonly patches: number,
    readonly columns: number,
  ) {}

  /** mu [d, columns] normalised per column into out; returns each column's 1/|mu_c|. */
  normaliseKernel(mu: StridedRows, out: StridedRows): Float64Array {
    const inverse = new Float64Array(this.columns);
    for (let c = 0; c < this.columns; c++) {
      let sum = 0;
      for (let i = 0; i < mu.rows; i++) sum += mu.values[i * mu.stride + c] ** 2;
      inverse[c] = 1 / Math.sqrt(sum + EPSILON);
      for (let i = 0; i < mu.rows; i++) out.values[i * out.stride + c] = mu.values[i * mu.stride + c] * inverse[c];
    }
    return inverse;
  }

  /** dmu from d(normalised mu): dmu_c = q_c dm_c - q_c^3 mu_c (mu_c . dm_c), q_c = 1/|mu_c|. */
  kernelGradient(mu: StridedRows, dNormalised: StridedRows, inverse: Float64Array, out: StridedRows): void {
    for (let c = 0; c < this.columns; c++) {
      let dot = 0;
      for (let i = 0; i < mu.rows; i++) dot += mu.values[i * mu.stride + c] * dNormalised.values[i * dNormalised.stride + c];
      const q = inverse[c];
      for (let i = 0; i < mu.rows; i++) {
        out.values[i * out.stride + c] = q * dNormalised.values[i * dNormalised.stride + c] - q * q * q * mu.values[i * mu.stride + c] * dot;
      }
    }
  }

  /** Logits, dispatch and combine weights [rows, columns] from the products (row stride `stride`) and the rows' norms. */
  forward(products: HostScores, rowNorms: Floats, scale: number, out: SoftHostState): void {
    const { values, rows, stride } = products;
    const kp = this.columns;
    const { logits, dispatch, combine } = out;
    for (let r = 0; r < rows; r++) for (let c = 0; c < kp; c++) logits[r * kp + c] = (scale * values[r * stride + c]) / rowNorms[r];
    const n = this.patches;
    for (let first = 0; first < rows; first += n) {
      for (let c = 0; c < kp; c++) {
        let peak = -Infinity;
        for (let j = 0; j < n; j++) peak = Math.max(peak, logits[(first + j) * kp + c]);
        let sum = 0;
        for (let j = 0; j < n; j++) sum += dispatch[(first + j) * kp + c] = Math.exp(logits[(first + j) * kp + c] - peak);
        for (let j = 0; j < n; j++) dispatch[(first + j) * kp + c] /= sum;
      }
    }
    for (let r = 0; r < rows; r++) {
      let peak = -Infinity;
      for (let c = 0; c < kp; c++) peak = Math.max(peak, logits[r * kp + c]);
      let sum = 0;
      for (let c = 0; c < kp; c++) sum += combine[r * kp + c] = Math.exp(logits[r * kp + c] - peak);
      for (let c = 0; c < kp; c++) combine[r * kp + c] /= sum;
    }
  }

  /**
   * From dD and dC [rows, columns]: the products' gradient into dProducts (row stride `stride`)
   * and the scale's, returned. dL = both softmaxes' backward; dP = scale dL / |x_r|; dscale = sum dL L / scale.
   */
  backward(
    state: SoftHostState,
    dDispatch: Float64Array,
    dCombine: Float64Array,
    rowNorms: Floats,
    scale: number,
    rows: number,
    dProducts: Floats,
    stride: number,
  ): number {
    const { logits, dispatch, combine } = state;
    const kp = this.columns;
    const n = this.patches;
    const dLogits = new Float64Array(rows * kp);
    for (let first = 0; first < rows; first += n) {
      for (let c = 0; c < kp; c++) {
        let weighted = 0;
        for (let j = 0; j < n; j++) weighted += dispatch[(first + j) * kp + c] * dDispatch[(first + j) * kp + c];
        for (let j = 0; j < n; j++) {
          const at = (first + j) * kp + c;
          dLogits[at] = dispatch[at] * (dDispatch[at] - weighted);
        }
      }
    }
    let dScale = 0;
    for (let r = 0; r < rows; r++) {
      let weighted = 0;
      for (let c = 0; c < kp; c++) weighted += combine[r * kp + c] * dCombine[r * kp + c];
      for (let c = 0; c < kp; c++) {
        const at = r * kp + c;
        dLogits[at] += combine[at] * (dCombine[at] - weighted);
        dScale += scale === 0 ? 0 : (dLogits[at] * logits[at]) / scale;
        dProducts[r * stride + c] = (scale * dLogits[at]) / rowNorms[r];
      }
    }
    return dScale;
  }
}
