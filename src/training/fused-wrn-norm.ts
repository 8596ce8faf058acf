import type { BatchNormReluSpec } from '../models/wrn-layers.js';
import type { MapBuffer, StepMemory, WeightEntry } from './fused-wrn-memory.js';

/** Rows per float32 block sum, as the wasm backend's batch-norm op (ops/batch-norm-training.ts). */
const BLOCK = 128;

/**
 * Batch normalisation over every axis but channels, then ReLU, in the fused image trainer, with the
 * arithmetic of pmoe's batch-norm op on wasm (ops/batch-norm-training.ts; the same kernels, sums
 * and roundings, so the same floats):
 *   training: mean and biased variance of the batch (two passes, the second centred on the first's
 *   mean), y = ReLU((x - mean) gamma / sqrt(var + eps) + beta), and the moving statistics
 *   moving <- moving - (moving - batch value) (1 - momentum) in float32, as tfjs-layers;
 *   inference: the same with the moving statistics (wasm-kernels.ts's FusedBatchNorm).
 * Gradient, with s = 1 / sqrt(var + eps), xhat = (x - mean) s and dz = dy 1[y > 0]:
 *   dbeta = sum dz,  dgamma = sum dz xhat,  dx = gamma s (dz - dbeta / P - xhat dgamma / P).
 * The ReLU rides along in the affine pass forward and in the block sums backward (affineRelu,
 * reluBlockSums: the same floats as the separate passes).
 */
export class BatchNormRelu {
  readonly gamma: WeightEntry;
  readonly beta: WeightEntry;
  readonly movingMean: Float32Array;
  readonly movingVariance: Float32Array;
  /** The last training batch's statistics (float32, as the op outputs them). */
  private readonly mean: Float32Array;
  private readonly variance: Float32Array;
  private readonly channels: number;

  constructor(
    private readonly memory: StepMemory,
    readonly spec: BatchNormReluSpec,
    private readonly x: MapBuffer,
    private readonly y: MapBuffer,
  ) {
    const channels = (this.channels = x.channels);
    if (channels % 4 !== 0) throw new Error(`fused image trainer: ${spec.name} needs channels in multiples of 4 (has ${channels})`);
    this.gamma = memory.addWeight(`${spec.name}_bn/gamma`, [channels]);
    this.beta = memory.addWeight(`${spec.name}_bn/beta`, [channels]);
    this.movingMean = new Float32Array(channels);
    this.movingVariance = new Float32Array(channels).fill(1);
    this.mean = new Float32Array(channels);
    this.variance = new Float32Array(channels);
    memory.need('blockSums', 3 * Math.ceil((memory.capacity * x.positions) / BLOCK) * channels);
    memory.need('vectors', 4 * channels);
  }

  /** The moving statistics' tfjs names. */
  get movingNames(): [string, string] {
    return [`${this.spec.name}_bn/moving_mean`, `${this.spec.name}_bn/moving_variance`];
  }

  forward(batch: number, training: boolean): void {
    const { memory, channels, spec } = this;
    const { arena } = memory;
    const rows = batch * this.x.positions;
    const [x, y] = [this.x.value.ptr, this.y.value.ptr];
    const vectors = arena.floats(memory.vectors);
    const at = (k: number) => memory.vectors.ptr + 4 * k * channels;
    const gamma = memory.weightValues(this.gamma);
    const beta = memory.weightValues(this.beta);
    if (training) {
      vectors.fill(0, 0, channels);
      const [sum] = this.sums(false, rows, x, at(0), x);
      // Centre on the float32 mean; the mean of what is left corrects it.
      for (let c = 0; c < channels; c++) vectors[c] = sum[c] / rows;
      const [sumD, , sumD2] = this.sums(true, rows, x, at(0), x);
      const keep = Math.fround(1 - spec.momentum);
      for (let c = 0; c < channels; c++) {
        const meanD = sumD[c] / rows;
        const mean = vectors[c] + meanD;
        const variance = Math.max(sumD2[c] / rows - meanD * meanD, 0);
        this.mean[c] = mean;
        this.variance[c] = variance;
        // y = (x - mean) a + beta with a = gamma s (s from the float64 variance, as the op).
        vectors[2 * channels + c] = gamma[c] / Math.sqrt(variance + spec.epsilon);
        this.movingMean[c] -= Math.fround(Math.fround(this.movingMean[c] - this.mean[c]) * keep);
        this.movingVariance[c] -= Math.fround(Math.fround(this.movingVariance[c] - this.variance[c]) * keep);
      }
      vectors.set(this.mean, 0);
    } else {
      vectors.set(this.movingMean, 0);
      for (let c = 0; c < channels; c++) vectors[2 * channels + c] = gamma[c] / Math.sqrt(this.movingVariance[c] + spec.epsilon);
    }
    vectors.fill(0, channels, 2 * channels);
    vectors.set(beta, 3 * channels);
    arena.affine(true, rows, channels, x, at(1), x, at(0), at(2), at(3), y);
  }

  backward(batch: number): void {
    const { memory, channels, spec } = this;
    const { arena } = memory;
    const rows = batch * this.x.positions;
    const dz = memory.layerTemp;
    const vectors = arena.floats(memory.vectors);
    const at = (k: number) => memory.vectors.ptr + 4 * k * channels;
    vectors.set(this.mean, 0);
    arena.blockSums('reluBlockSums', rows, channels, BLOCK, this.x.value.ptr, at(0), [memory.gradient(this.y), this.y.value.ptr, dz], memory.blockSums.ptr);
    const [, sumDy, sumDyCentred] = this.totals(rows);
    const gamma = memory.weightValues(this.gamma);
    const dGamma = memory.gradValues(this.gamma);
    const dBeta = memory.gradValues(this.beta);
    // dx = dz k1 + (x - mean) k2 + k3.
    for (let c = 0; c < channels; c++) {
      const s = 1 / Math.sqrt(this.variance[c] + spec.epsilon);
      dGamma[c] = sumDyCentred[c] * s;
      dBeta[c] = sumDy[c];
      vectors[channels + c] = gamma[c] * s;
      vectors[2 * channels + c] = (-gamma[c] * s * s * s * sumDyCentred[c]) / rows;
      vectors[3 * channels + c] = (-gamma[c] * s * sumDy[c]) / rows;
    }
    memory.contribute(this.x, rows, (target) => arena.affine(false, rows, channels, dz, at(1), this.x.value.ptr, at(0), at(2), at(3), target));
  }

  /** Per-channel [sum (u - shift), sum v, sum (u - shift) v] over the rows, float32 blocks added in float64 (v = u - shift when `square`). */
  private sums(square: boolean, rows: number, u: number, shift: number, v: number): [Float64Array, Float64Array, Float64Array] {
    const { memory, channels } = this;
    memory.arena.blockSums(square ? 'blockSquares' : 'blockSums', rows, channels, BLOCK, u, shift, [v], memory.blockSums.ptr);
    return this.totals(rows);
  }

  /** The block sums' three per-channel totals, added in float64. */
  private totals(rows: number): [Float64Array, Float64Array, Float64Array] {
    const { memory, channels } = this;
    const partials = memory.arena.floats(memory.blockSums);
    const totals: [Float64Array, Float64Array, Float64Array] = [new Float64Array(channels), new Float64Array(channels), new Float64Array(channels)];
    const blocks = Math.ceil(rows / BLOCK);
    for (let b = 0; b < blocks; b++) {
      for (let k = 0; k < 3; k++) {
        const at = (3 * b + k) * channels;
        const total = totals[k];
        for (let c = 0; c < channels; c++) total[c] += partials[at + c];
      }
    }
    return totals;
  }
}
