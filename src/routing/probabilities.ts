import type { Floats, HostScores } from './router.js';

/**
 * Router probabilities on plain arrays: softmax over the experts of each patch row's scores (plus
 * scaled noise where the router draws it), as V-MoE's and Zhou et al.'s routers gate.
 * probabilities[r k + s] for patch row r and expert s (the scores may be padded to `stride` columns).
 */
export function softmaxRows(scores: HostScores, experts: number, out: Float64Array, noise?: Floats, noiseScale = 0): void {
  const { values, rows, stride } = scores;
  for (let r = 0; r < rows; r++) {
    let peak = -Infinity;
    for (let s = 0; s < experts; s++) {
      const logit = values[r * stride + s] + (noise ? noiseScale * noise[r * experts + s] : 0);
      out[r * experts + s] = logit;
      peak = Math.max(peak, logit);
    }
    let sum = 0;
    for (let s = 0; s < experts; s++) sum += out[r * experts + s] = Math.exp(out[r * experts + s] - peak);
    for (let s = 0; s < experts; s++) out[r * experts + s] /= sum;
  }
}

/**
 * The softmax's backward on each row: dLogits_rs = P_rs (dP_rs - sum_u P_ru dP_ru), added into
 * dScores (laid out as the scores, `stride` columns).
 */
export function addSoftmaxGradient(
  probabilities: Float64Array,
  dProbabilities: Float64Array,
  rows: number,
  experts: number,
  dScores: Floats,
  stride: number,
): void {
  for (let r = 0; r < rows; r++) {
    let weighted = 0;
    for (let s = 0; s < experts; s++) weighted += probabilities[r * experts + s] * dProbabilities[r * experts + s];
    for (let s = 0; s < experts; s++) dScores[r * stride + s] += probabilities[r * experts + s] * (dProbabilities[r * experts + s] - weighted);
  }
}

/**
 * The complementary error function, erfc(x) = 1 - erf(x), with fractional error below 1.2e-7 for
 * every x (Chebyshev fit of Numerical Recipes, "erfcc").
 */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const value =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? value : 2 - value;
}

/** Standard normal density. */
export function normalDensity(x: number): number {
  return Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
}

/** A buffer of at least `size` values, reused between calls (grown on demand). */
export class Scratch {
  private buffer = new Float64Array(0);
  take(size: number): Float64Array {
    if (this.buffer.length < size) this.buffer = new Float64Array(size);
    return this.buffer;
  }
}
