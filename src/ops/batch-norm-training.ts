import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapBatchNormKernels } from '../kernels/heap-kernels.js';
import type { BatchNormKernels } from '../kernels/simd-batch-norm.js';
import type { KernelArgs } from './kernel-io.js';

/**
 * Batch normalisation in training mode as one op with a hand-derived gradient, over the last axis
 * (channels) of x:
 *   mean_c = sum_p x_pc / P,  var_c = sum_p (x_pc - mean_c)^2 / P  (biased, as tf.moments),
 *   y = (x - mean) / sqrt(var + eps) * gamma + beta,     outputs [y, mean, var].
 * Gradient, with s = 1 / sqrt(var + eps), xhat = (x - mean) s, and dy, dmean, dvar the gradients
 * of the three outputs (dmean, dvar zero when only y is used):
 *   dbeta = sum_p dy,  dgamma = sum_p dy xhat,
 *   dx = gamma s (dy - dbeta / P - xhat dgamma / P) + dmean / P + 2 dvar (x - mean) / P.
 *
 * Why: tfjs-layers trains BatchNormalization through tf.moments and FusedBatchNorm, about a dozen
 * ops forward and backward (Multiply, Sum, Sub, Mean, Identity, tiles of the per-channel factors),
 * a large part of a Wide-ResNet step on wasm (bench case d; CHANGELOG.md). This is two passes over x
 * for the statistics, one for y, and two for the gradient, by the SIMD kernels of
 * simd-batch-norm.ts where the channels are a multiple of 4 (JS loops otherwise), with block sums
 * added in float64 (see the precision note on Sum in wasm-kernels.ts). wasm only; the plain
 * formulation elsewhere, which is also the reference the tests compare with.
 */
export const BATCH_NORM_TRAINING = 'PmoeBatchNormTraining';
const BATCH_NORM_TRAINING_GRAD = 'PmoeBatchNormTrainingGrad';

type TensorInfo = tf.TensorInfo;

const floatsOf = (backend: BackendWasm, info: TensorInfo) => backend.typedArrayFromHeap(info) as Float32Array;

/** Rows per float32 block sum (see simd-batch-norm.ts). */
const BLOCK = 128;

/**
 * Per-channel sums over the rows of u [P, C] (C a multiple of 4) by the SIMD kernels:
 * [sum (u - shift), sum v, sum (u - shift) v] in float64, v = u - shift when `square`.
 * `vectors` are C-float heap regions the caller fills first: shift, then up to three more.
 */
class SimdPasses {
  private readonly scratch: TensorInfo;
  private readonly base: number;
  readonly blocks: number;

  constructor(
    private readonly backend: BackendWasm,
    private readonly kernels: BatchNormKernels,
    private readonly rows: number,
    private readonly channels: number,
  ) {
    this.blocks = Math.ceil(rows / BLOCK);
    this.scratch = backend.makeOutput([(3 * this.blocks + 4) * channels], 'float32');
    this.base = backend.getMemoryOffset(this.scratch.dataId);
  }

  /** Channel vector k (0..3) of the scratch region: its view and address. */
  vector(k: number): { values: Float32Array; ptr: number } {
    const offset = (3 * this.blocks + k) * this.channels;
    return { values: floatsOf(this.backend, this.scratch).subarray(offset, offset + this.channels), ptr: this.base + offset * 4 };
  }

  sums(square: boolean, u: TensorInfo, shift: number, v: TensorInfo): [Float64Array, Float64Array, Float64Array] {
    const { kernels, backend, channels } = this;
    const run = square ? kernels.blockSquares : kernels.blockSums;
    run(this.rows, channels, BLOCK, backend.getMemoryOffset(u.dataId), shift, backend.getMemoryOffset(v.dataId), this.base);
    const partials = floatsOf(backend, this.scratch);
    const totals: [Float64Array, Float64Array, Float64Array] = [new Float64Array(channels), new Float64Array(channels), new Float64Array(channels)];
    for (let b = 0; b < this.blocks; b++) {
      for (let k = 0; k < 3; k++) {
        const at = (3 * b + k) * channels;
        const total = totals[k];
        for (let c = 0; c < channels; c++) total[c] += partials[at + c];
      }
    }
    return totals;
  }

  /** out = u a + (v - s) b + c with s, a, b, c the scratch vectors 0, 1, 2, 3. */
  affine(u: TensorInfo, v: TensorInfo, out: TensorInfo): void {
    const address = (info: TensorInfo) => this.backend.getMemoryOffset(info.dataId);
    const [s, a, b, c] = [0, 1, 2, 3].map((k) => this.vector(k).ptr);
    this.kernels.affine(this.rows, this.channels, address(u), a, address(v), s, b, c, address(out));
  }

  dispose(): void {
    this.backend.disposeData(this.scratch.dataId);
  }
}

/** The SIMD passes for x's shape, or null (channels not a multiple of 4, no SIMD). */
function simdPasses(backend: BackendWasm, x: TensorInfo): SimdPasses | null {
  const channels = x.shape[x.shape.length - 1];
  const kernels = heapBatchNormKernels(backend);
  if (kernels === null || channels % 4 !== 0) return null;
  return new SimdPasses(backend, kernels, tf.util.sizeFromShape(x.shape) / channels, channels);
}

/** Per-channel mean and biased variance of x [P, C] in float64, two passes of JS loops. */
function moments(x: Float32Array, channels: number): { mean: Float64Array; variance: Float64Array } {
  const positions = x.length / channels;
  const mean = new Float64Array(channels);
  for (let i = 0; i < x.length; i += channels) for (let c = 0; c < channels; c++) mean[c] += x[i + c];
  for (let c = 0; c < channels; c++) mean[c] /= positions;
  const variance = new Float64Array(channels);
  for (let i = 0; i < x.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      const d = x[i + c] - mean[c];
      variance[c] += d * d;
    }
  }
  for (let c = 0; c < channels; c++) variance[c] /= positions;
  return { mean, variance };
}

function forwardKernel(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { x, scale, offset } = args.inputs as { x: TensorInfo; scale: TensorInfo; offset: TensorInfo };
  const epsilon = (args.attrs as { epsilon: number }).epsilon;
  const channels = x.shape[x.shape.length - 1];
  const positions = tf.util.sizeFromShape(x.shape) / channels;
  const y = backend.makeOutput(x.shape, 'float32');
  const meanOut = backend.makeOutput([channels], 'float32');
  const varianceOut = backend.makeOutput([channels], 'float32');
  const passes = simdPasses(backend, x);
  let mean: Float64Array;
  let variance: Float64Array;
  if (passes) {
    const zeros = passes.vector(0);
    zeros.values.fill(0);
    const [sum] = passes.sums(false, x, zeros.ptr, x);
    // Centre on the float32 mean; the mean of what is left corrects it.
    const shift = passes.vector(0);
    for (let c = 0; c < channels; c++) shift.values[c] = sum[c] / positions;
    const [sumD, , sumD2] = passes.sums(true, x, shift.ptr, x);
    mean = new Float64Array(channels);
    variance = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      const meanD = sumD[c] / positions;
      mean[c] = passes.vector(0).values[c] + meanD;
      variance[c] = Math.max(sumD2[c] / positions - meanD * meanD, 0);
    }
  } else {
    ({ mean, variance } = moments(floatsOf(backend, x), channels));
  }
  const [gamma, beta] = [floatsOf(backend, scale), floatsOf(backend, offset)];
  // y = (x - mean) a + beta with a = gamma s.
  const a = new Float64Array(channels);
  for (let c = 0; c < channels; c++) a[c] = gamma[c] / Math.sqrt(variance[c] + epsilon);
  const meanOf = Float32Array.from(mean);
  if (passes) {
    passes.vector(0).values.set(meanOf);
    passes.vector(1).values.fill(0);
    passes.vector(2).values.set(a);
    passes.vector(3).values.set(beta);
    passes.affine(x, x, y);
    passes.dispose();
  } else {
    const [xs, ys] = [floatsOf(backend, x), floatsOf(backend, y)];
    for (let i = 0; i < xs.length; i += channels) for (let c = 0; c < channels; c++) ys[i + c] = (xs[i + c] - meanOf[c]) * a[c] + beta[c];
  }
  floatsOf(backend, meanOut).set(mean);
  floatsOf(backend, varianceOut).set(variance);
  return [y, meanOut, varianceOut];
}

/** Inputs dy, x, scale, mean, variance, dmean, dvar; outputs [dx, dscale, doffset]. */
function gradientKernel(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const inputs = args.inputs as Record<'dy' | 'x' | 'scale' | 'mean' | 'variance' | 'dmean' | 'dvariance', TensorInfo>;
  const epsilon = (args.attrs as { epsilon: number }).epsilon;
  const channels = inputs.x.shape[inputs.x.shape.length - 1];
  const positions = tf.util.sizeFromShape(inputs.x.shape) / channels;
  const dxOut = backend.makeOutput(inputs.x.shape, 'float32');
  const dscaleOut = backend.makeOutput([channels], 'float32');
  const doffsetOut = backend.makeOutput([channels], 'float32');
  const passes = simdPasses(backend, inputs.x);
  let sumDy: Float64Array;
  let sumDyCentred: Float64Array;
  if (passes) {
    [, sumDy, sumDyCentred] = passes.sums(false, inputs.x, backend.getMemoryOffset(inputs.mean.dataId), inputs.dy);
  } else {
    const [dy, x, mean] = [floatsOf(backend, inputs.dy), floatsOf(backend, inputs.x), floatsOf(backend, inputs.mean)];
    sumDy = new Float64Array(channels);
    sumDyCentred = new Float64Array(channels);
    for (let i = 0; i < x.length; i += channels) {
      for (let c = 0; c < channels; c++) {
        const g = dy[i + c];
        sumDy[c] += g;
        sumDyCentred[c] += g * (x[i + c] - mean[c]);
      }
    }
  }
  const [gamma, mean, variance, dmean, dvariance] = (['scale', 'mean', 'variance', 'dmean', 'dvariance'] as const).map((name) =>
    floatsOf(backend, inputs[name]),
  );
  // dx = dy k1 + (x - mean) k2 + k3.
  const k1 = new Float64Array(channels);
  const k2 = new Float64Array(channels);
  const k3 = new Float64Array(channels);
  const dscale = floatsOf(backend, dscaleOut);
  const doffset = floatsOf(backend, doffsetOut);
  for (let c = 0; c < channels; c++) {
    const s = 1 / Math.sqrt(variance[c] + epsilon);
    dscale[c] = sumDyCentred[c] * s;
    doffset[c] = sumDy[c];
    k1[c] = gamma[c] * s;
    k2[c] = (-gamma[c] * s * s * s * sumDyCentred[c] + 2 * dvariance[c]) / positions;
    k3[c] = (-gamma[c] * s * sumDy[c] + dmean[c]) / positions;
  }
  if (passes) {
    passes.vector(0).values.set(mean);
    passes.vector(1).values.set(k1);
    passes.vector(2).values.set(k2);
    passes.vector(3).values.set(k3);
    passes.affine(inputs.dy, inputs.x, dxOut);
    passes.dispose();
  } else {
    const [dy, x, dx] = [floatsOf(backend, inputs.dy), floatsOf(backend, inputs.x), floatsOf(backend, dxOut)];
    for (let i = 0; i < x.length; i += channels) for (let c = 0; c < channels; c++) dx[i + c] = dy[i + c] * k1[c] + (x[i + c] - mean[c]) * k2[c] + k3[c];
  }
  return [dxOut, dscaleOut, doffsetOut];
}

const gradConfig: tf.GradConfig = {
  kernelName: BATCH_NORM_TRAINING,
  inputsToSave: ['x', 'scale'],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy, dmean, dvariance] = dys as tf.Tensor[];
    const [x, scale, mean, variance] = saved;
    // One kernel gives all three gradients; computed here, not in the closures, so that it runs
    // once (tensors made here live until the backward pass ends).
    const [dx, dscale, doffset] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { dy, x, scale, mean, variance, dmean, dvariance }, attrs) as tf.Tensor[];
    return { x: () => dx, scale: () => dscale, offset: () => doffset };
  },
};

/** Registers the wasm kernels and the gradient (initEngine does). Idempotent. */
export function registerBatchNormTraining(): void {
  for (const [kernelName, kernelFunc] of [
    [BATCH_NORM_TRAINING, forwardKernel],
    [BATCH_NORM_TRAINING_GRAD, gradientKernel],
  ] as const) {
    if (tf.getKernel(kernelName, 'wasm') == null) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  }
  if (tf.getGradient(BATCH_NORM_TRAINING) !== gradConfig) tf.registerGradient(gradConfig);
}

/**
 * Training-mode batch norm over the last axis: [y, batch mean, batch variance] (mean and variance
 * [C], biased variance). On wasm one fused op; elsewhere tf.moments and tf.batchNorm, as
 * tfjs-layers computes it.
 */
export function batchNormTraining(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  const channels = x.shape[x.rank - 1];
  if (gamma.shape[0] !== channels || beta.shape[0] !== channels) {
    throw new Error(`batchNormTraining: gamma ${gamma.shape} and beta ${beta.shape} must have the ${channels} channels of x ${x.shape}`);
  }
  if (tf.getBackend() === 'wasm' && x.dtype === 'float32' && x.size > 0) {
    return tf.engine().runKernel(BATCH_NORM_TRAINING, { x, scale: gamma, offset: beta }, { epsilon }) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  }
  return batchNormTrainingPlain(x, gamma, beta, epsilon);
}

/** The plain formulation (tfjs-layers' own): the reference. */
export function batchNormTrainingPlain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  return tf.tidy(() => {
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    return [tf.batchNorm(x, mean, variance, beta, gamma, epsilon), mean as tf.Tensor1D, variance as tf.Tensor1D];
  });
}
