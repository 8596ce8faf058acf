import * as tf from '@tensorflow/tfjs-core';
import { addSoftmaxGradient, erfc, normalDensity, Scratch, softmaxRows } from './probabilities.js';
import type { AuxiliaryWeights, Floats, HostScores, RouteMode } from './router.js';

/**
 * The auxiliary losses a router may add to the training loss, computed over the batch's patch rows
 * (T rows, k experts; V-MoE computes them per group of tokens, pmoe's group for them is the batch):
 * - importance (V-MoE, Riquelme et al. 2021, App. A.2): I_s = sum_r softmax(g_r)_s, loss CV(I)^2 =
 *   var(I) / mean(I)^2 (population variance), on the scores without noise;
 * - load (V-MoE): with noisy scores g~ = g + sigma eps, the threshold t_r is row r's K-th largest
 *   noisy score; p_rs = 1 - Phi((t_r - g_rs) / sigma) is expert s's chance of being among the top K
 *   under re-drawn noise; loss CV(mean_r p_rs)^2. Only where noise is drawn (training, sigma > 0);
 * - z-loss (ST-MoE, Zoph et al. 2022, eq. 5): mean_r (log sum_s exp g_rs)^2.
 * Values are unweighted, in AUXILIARY_LOSSES order; a loss of weight 0 is not computed (0).
 */
export interface AuxiliarySettings {
  readonly weights: AuxiliaryWeights;
  /** K of the load loss's threshold. */
  readonly topK: number;
  /** sigma: the noise's standard deviation (0: no noise). */
  readonly noiseScale: number;
}

/** Whether the load loss is computed in this mode. */
function loadActive(settings: AuxiliarySettings, mode: RouteMode, noise: unknown): boolean {
  return settings.weights.load > 0 && mode === 'train' && settings.noiseScale > 0 && noise != null;
}

export function hasAuxiliaryLoss(weights: AuxiliaryWeights): boolean {
  return weights.importance > 0 || weights.load > 0 || weights.zLoss > 0;
}

/** CV^2 of `values` (k of them) and its gradient w.r.t. each value, into gradient. */
function squaredVariation(values: Float64Array, k: number, gradient?: Float64Array): number {
  let mean = 0;
  for (let s = 0; s < k; s++) mean += values[s] / k;
  let variance = 0;
  for (let s = 0; s < k; s++) variance += (values[s] - mean) ** 2 / k;
  if (gradient) for (let s = 0; s < k; s++) gradient[s] = (2 * (values[s] - mean)) / (k * mean * mean) - (2 * variance) / (k * mean ** 3);
  return variance / (mean * mean);
}

/** Row r's K-th largest noisy score and its expert (ties to the lower expert, as top-k). */
function threshold(noisy: Float64Array, r: number, k: number, topK: number, order: Int32Array): number {
  for (let s = 0; s < k; s++) order[s] = s;
  // Partial selection sort: the first topK places.
  for (let c = 0; c < topK; c++) {
    let best = c;
    for (let u = c + 1; u < k; u++) if (noisy[r * k + order[u]] > noisy[r * k + order[best]]) best = u;
    [order[c], order[best]] = [order[best], order[c]];
  }
  return order[topK - 1];
}

/** The auxiliary losses on plain arrays, with their gradient. */
export class HostAuxiliaryLosses {
  private readonly probabilities = new Scratch();
  private readonly dProbabilities = new Scratch();
  private readonly noisy = new Scratch();
  private readonly perExpert = new Scratch();
  private readonly perExpertGradient = new Scratch();
  private readonly order: Int32Array;

  constructor(
    private readonly settings: AuxiliarySettings,
    private readonly experts: number,
  ) {
    this.order = new Int32Array(experts);
  }

  get active(): boolean {
    return hasAuxiliaryLoss(this.settings.weights);
  }

  /** Unweighted values into out[0..3) (importance, load, z-loss). */
  forward(scores: HostScores, mode: RouteMode, out: Float64Array, noise?: Floats): void {
    out.fill(0, 0, 3);
    const { weights } = this.settings;
    if (weights.importance > 0) out[0] = this.importance(scores);
    if (loadActive(this.settings, mode, noise)) out[1] = this.load(scores, noise!);
    if (weights.zLoss > 0) out[2] = this.zLoss(scores);
  }

  /** Adds dAuxiliary[i] times loss i's gradient into dScores (laid out as the scores). */
  backward(scores: HostScores, mode: RouteMode, dAuxiliary: ArrayLike<number>, dScores: Floats, noise?: Floats): void {
    const { weights } = this.settings;
    if (weights.importance > 0 && dAuxiliary[0] !== 0) this.importance(scores, dAuxiliary[0], dScores);
    if (loadActive(this.settings, mode, noise) && dAuxiliary[1] !== 0) this.load(scores, noise!, dAuxiliary[1], dScores);
    if (weights.zLoss > 0 && dAuxiliary[2] !== 0) this.zLoss(scores, dAuxiliary[2], dScores);
  }

  private importance(scores: HostScores, upstream = 0, dScores?: Floats): number {
    const k = this.experts;
    const { rows, stride } = scores;
    const p = this.probabilities.take(rows * k);
    softmaxRows(scores, k, p);
    const total = this.perExpert.take(k).fill(0, 0, k);
    for (let r = 0; r < rows; r++) for (let s = 0; s < k; s++) total[s] += p[r * k + s];
    const gradient = dScores ? this.perExpertGradient.take(k) : undefined;
    const loss = squaredVariation(total, k, gradient);
    if (dScores && gradient) {
      const dp = this.dProbabilities.take(rows * k);
      for (let r = 0; r < rows; r++) for (let s = 0; s < k; s++) dp[r * k + s] = upstream * gradient[s];
      addSoftmaxGradient(p, dp, rows, k, dScores, stride);
    }
    return loss;
  }

  private load(scores: HostScores, noise: Floats, upstream = 0, dScores?: Floats): number {
    const k = this.experts;
    const { values, rows, stride } = scores;
    const sigma = this.settings.noiseScale;
    const noisy = this.noisy.take(rows * k);
    for (let r = 0; r < rows; r++) for (let s = 0; s < k; s++) noisy[r * k + s] = values[r * stride + s] + sigma * noise[r * k + s];
    const chance = this.perExpert.take(k).fill(0, 0, k);
    const winners = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const winner = (winners[r] = threshold(noisy, r, k, this.settings.topK, this.order));
      // p_rs = 1 - Phi(u) = erfc(u / sqrt 2) / 2, u = (t_r - g_rs) / sigma.
      for (let s = 0; s < k; s++) chance[s] += erfc((noisy[r * k + winner] - values[r * stride + s]) / sigma / Math.SQRT2) / 2 / rows;
    }
    const gradient = dScores ? this.perExpertGradient.take(k) : undefined;
    const loss = squaredVariation(chance, k, gradient);
    if (dScores && gradient) {
      for (let r = 0; r < rows; r++) {
        const winner = winners[r];
        let toThreshold = 0;
        for (let s = 0; s < k; s++) {
          // dp/dg_rs = phi(u) / sigma; the threshold's own score moves u the other way.
          const slope = (upstream * gradient[s] * normalDensity((noisy[r * k + winner] - values[r * stride + s]) / sigma)) / sigma / rows;
          dScores[r * stride + s] += slope;
          toThreshold += slope;
        }
        dScores[r * stride + winner] -= toThreshold;
      }
    }
    return loss;
  }

  private zLoss(scores: HostScores, upstream = 0, dScores?: Floats): number {
    const k = this.experts;
    const { values, rows, stride } = scores;
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      let peak = -Infinity;
      for (let s = 0; s < k; s++) peak = Math.max(peak, values[r * stride + s]);
      let sum = 0;
      for (let s = 0; s < k; s++) sum += Math.exp(values[r * stride + s] - peak);
      const z = peak + Math.log(sum);
      loss += (z * z) / rows;
      // d/dg_rs of z_r^2 / T = 2 z_r softmax_rs / T.
      if (dScores) for (let s = 0; s < k; s++) dScores[r * stride + s] += (upstream * 2 * z * Math.exp(values[r * stride + s] - z)) / rows;
    }
    return loss;
  }
}

/** CV^2 over the last axis of a [k] tensor (population variance), as V-MoE's. */
function squaredVariationTf(values: tf.Tensor1D): tf.Scalar {
  const { mean, variance } = tf.moments(values);
  return tf.div(variance, tf.square(mean));
}

/**
 * The same losses as tf ops (the plain formulation): scores [T, k], noise [T, k] standard normal.
 * Returns [3] (importance, load, z-loss), unweighted, zero where not computed.
 */
export function auxiliaryLossesTf(scores: tf.Tensor2D, settings: AuxiliarySettings, mode: RouteMode, noise?: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const zero = tf.scalar(0);
    const { weights, noiseScale: sigma, topK } = settings;
    const importance = weights.importance > 0 ? squaredVariationTf(tf.sum(tf.softmax(scores), 0)) : zero;
    let load: tf.Scalar = zero;
    if (loadActive(settings, mode, noise)) {
      const noisy = tf.add(scores, tf.mul(noise!, sigma));
      // The K-th largest noisy score, read through a one-hot so the gradient reaches its score (as V-MoE).
      const index = tf.slice(tf.topk(noisy, topK).indices, [0, topK - 1], [-1, 1]);
      const thresholdValue = tf.sum(tf.mul(tf.oneHot(tf.reshape(index, [-1]), scores.shape[1]), noisy), 1, true);
      const u = tf.div(tf.sub(thresholdValue, scores), sigma);
      const chance = tf.mul(tf.sub(1, tf.erf(tf.div(u, Math.SQRT2))), 0.5);
      load = squaredVariationTf(tf.mean(chance, 0) as tf.Tensor1D);
    }
    const zLoss = weights.zLoss > 0 ? tf.mean(tf.square(tf.logSumExp(scores, 1))) : zero;
    return tf.stack([importance, load, zLoss]) as tf.Tensor1D;
  });
}

/** A dispatch's metrics [4]: the auxiliary losses [3] and the dropped choices. */
export function routerMetrics(auxiliary: tf.Tensor1D, dropped: number): tf.Tensor1D {
  return tf.tidy(() => tf.concat([auxiliary, tf.tensor1d([dropped])]) as tf.Tensor1D);
}
