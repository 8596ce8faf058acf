import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import { ArenaLimitError, arenaThreads, countNonzeros, SimdArena, type Region, type SparseRows } from '../kernels/simd-arena.js';
import { OptionError } from '../util/options.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { Evaluation } from './evaluate.js';
import type { RoutingStepStats } from '../analysis/utilisation.js';

/**
 * What the fused (tape-free) training paths share: the data sets copied into the kernels' memory,
 * the classification loss with its gradient, and the per-set evaluation loop.
 *
 * A fused path computes a model's forward pass and hand-derived gradients with a few matrix
 * products (kernels/simd-gemm.ts) and loops over small arrays, then applies the SGD update in place.
 * Its reference is the plain autodiff formulation (the model's forward() under tf.train.sgd), which
 * the tests compare it with.
 */
export interface FusedTrainer {
  /** One SGD step on the training samples at these indices. */
  step(samples: ArrayLike<number>): void;
  /** Mean loss and accuracy over the training or test set, by the current weights. */
  evaluate(set: 'train' | 'test'): Evaluation;
  /** Logits [samples, logits] of these training samples. */
  logits(samples: ArrayLike<number>): Float32Array;
  /** Mean loss and its gradients by variable name, in the variables' layouts; nothing is updated. */
  gradients(samples: ArrayLike<number>): { loss: number; grads: Record<string, Float32Array> };
  /** What the steps since the last call measured of the routing (routed models); resets the counts. */
  takeStepStats?(): RoutingStepStats;
  /** Copies the weights into the model's variables (trainModel does so after every epoch). */
  writeBack(): void;
  /** Hands the kernels' memory to the next trainer (SimdArena.dispose); the trainer is not used afterwards. */
  dispose(): void;
}

/** Settings every fused trainer takes. */
export interface FusedSettings {
  readonly learningRate: number;
  /** Largest mini-batch a step is given. */
  readonly batchSize: number;
}

/** Samples per forward pass in evaluation. */
export const EVAL_CHUNK = 250;

/**
 * Below this share of nonzero values a set's patches are kept as sparse rows (MNIST digits: ~20%):
 * the sparse products skip the zeros (faster when most values are zero, slower when dense) and
 * give the same sums, since a zero term adds nothing.
 */
export const SPARSE_BELOW = 0.5;

/**
 * A data set in arena memory, patches [count * n, d], dense or sparse by its density. Row tables
 * hold what its products read: byte addresses (dense) or patch row ids (sparse).
 */
export class ArenaSet {
  private readonly dense: Region | null;
  private readonly sparse: SparseRows | null;
  private readonly n: number;
  private readonly d: number;

  constructor(
    private readonly arena: SimdArena,
    readonly data: PatchDataset,
  ) {
    this.n = data.patchCount;
    this.d = data.patchDim;
    const rows = data.count * this.n;
    const values = data.patches.subarray(0, rows * this.d);
    const nonzeros = countNonzeros(values);
    if (nonzeros < SPARSE_BELOW * values.length) {
      this.sparse = arena.sparse(values, rows, this.d, nonzeros);
      this.dense = null;
    } else {
      this.dense = arena.alloc(values.length);
      arena.floats(this.dense).set(values);
      this.sparse = null;
    }
  }

  /** The row-table entry of patch j of sample i. */
  entry(sample: number, patch: number): number {
    const row = sample * this.n + patch;
    return this.dense ? this.dense.ptr + row * this.d * 4 : row;
  }

  /** Fills `rows` with the entries of every patch of the samples, in order, padded to a multiple of 4. */
  allRows(samples: ArrayLike<number>, rows: Int32Array): number {
    const n = this.n;
    for (let b = 0; b < samples.length; b++) for (let j = 0; j < n; j++) rows[b * n + j] = this.entry(samples[b], j);
    return padRows(rows, samples.length * n);
  }

  /** C [m, cols] = X_rows W, W [d, cols]; m a multiple of 4 (a padded row table). */
  product(m: number, cols: number, rows: Region, weights: Region, out: Region): void {
    if (this.sparse) this.arena.spmm(m, cols, rows, this.sparse, weights, out);
    else this.arena.gemm(m, cols, this.d, rows, weights, out);
  }

  /** C [pad4(d), cols] (rows past d unused) = X_rows^T dY over the first k rows, dY [k, cols]. */
  productT(k: number, cols: number, rows: Region, dY: Region, out: Region): void {
    if (this.sparse) this.arena.spmmT(k, cols, rows, this.sparse, dY, out);
    else this.arena.gemmT(pad4(this.d), cols, k, rows, dY, out);
  }
}

/**
 * A fused trainer's arena for these data sets: its products split across two threads where the
 * process runs them (not in sweep workers, PMOE_THREADS=1) and the sets fit a shared memory.
 */
export function trainerArena(...sets: PatchDataset[]): SimdArena {
  const bytes = sets.reduce((sum, set) => sum + 4 * set.count * set.patchCount * set.patchDim, 0);
  return new SimdArena(undefined, oneThreadArenas ? null : arenaThreads(bytes));
}

/** Set while buildTrainer builds a trainer again on one thread. */
let oneThreadArenas = false;

/**
 * A fused trainer from `make`: one whose arena outgrows the two-thread memory's 1 GiB (the data
 * fit, but a large batch's scratch does not) is built again on one thread, whose memory holds
 * 4 GiB and gives the same results. One that does not fit even there is an Error naming the
 * batch size, the samples and what to change.
 */
export function buildTrainer<T>(make: () => T, what: { readonly batchSize: number; readonly samples: number }): T {
  try {
    return make();
  } catch (error) {
    if (!(error instanceof ArenaLimitError)) throw error;
    if (error.twoThreads) {
      oneThreadArenas = true;
      try {
        return buildTrainer(make, what);
      } finally {
        oneThreadArenas = false;
      }
    }
    throw new OptionError(
      `training.batchSize: a batch of ${what.batchSize} samples with ${what.samples} samples of data needs more than the 4 GiB ` +
        `that the fused trainer's WebAssembly memory holds (${error.bytes} bytes asked): use a smaller batch size (--batch-size) or fewer samples`,
      { cause: error },
    );
  }
}

/** Repeats the last address up to a multiple of 4 rows (the extra output rows are ignored); returns that count. */
export function padRows(rows: Int32Array, count: number): number {
  const padded = pad4(count);
  for (let i = count; i < padded; i++) rows[i] = rows[Math.max(count - 1, 0)];
  return padded;
}

/** Sample indices start..end-1. */
function range(start: number, end: number): Int32Array {
  return Int32Array.from({ length: end - start }, (_, i) => start + i);
}

/**
 * Mean classification loss over the samples and its gradient w.r.t. the logits (written into
 * `dLogits`, already divided by the batch size); `correct` counts the right predictions.
 * Binary (one logit f): log(1 + exp(-y f)), y = +1 for class 0; f > 0 predicts class 0.
 * Multiclass: softmax cross-entropy; the first largest logit is the prediction. As loss.ts.
 */
export function lossAndGradient(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  outputs: number,
  dLogits: Float64Array | null,
): { loss: number; correct: number } {
  const batch = labels.length;
  let loss = 0;
  let correct = 0;
  for (let b = 0; b < batch; b++) {
    const label = labels[b];
    if (outputs === 1) {
      const f = logits[b];
      const y = label === 0 ? 1 : -1;
      const z = -y * f;
      loss += Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
      if (dLogits) dLogits[b] = -y / (1 + Math.exp(-z)) / batch;
      if ((f > 0 ? 0 : 1) === label) correct++;
      continue;
    }
    let best = 0;
    for (let o = 1; o < outputs; o++) if (logits[b * outputs + o] > logits[b * outputs + best]) best = o;
    const max = logits[b * outputs + best];
    let total = 0;
    for (let o = 0; o < outputs; o++) total += Math.exp(logits[b * outputs + o] - max);
    loss += max + Math.log(total) - logits[b * outputs + label];
    if (dLogits) {
      for (let o = 0; o < outputs; o++) {
        dLogits[b * outputs + o] = (Math.exp(logits[b * outputs + o] - max) / total - (o === label ? 1 : 0)) / batch;
      }
    }
    if (best === label) correct++;
  }
  return { loss: loss / batch, correct };
}

/** Loss and accuracy over a whole set, forward pass by forward pass of EVAL_CHUNK samples. */
export function evaluateInChunks(data: PatchDataset, outputs: number, logitsOf: (samples: Int32Array) => ArrayLike<number>): Evaluation {
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < data.count; start += EVAL_CHUNK) {
    const samples = range(start, Math.min(start + EVAL_CHUNK, data.count));
    const result = lossAndGradient(logitsOf(samples), data.labels.subarray(start, start + samples.length), outputs, null);
    lossSum += result.loss * samples.length;
    correct += result.correct;
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count };
}

/** A [rows, cols] matrix copied out of a [rows, stride] region (dropping padding columns). */
export function unpad(values: Float32Array, rows: number, cols: number, stride: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(values.subarray(i * stride, i * stride + cols), i * cols);
  return out;
}

/** The inverse of unpad: [rows, cols] values into a [rows, stride] region. */
export function padInto(target: Float32Array, values: ArrayLike<number>, rows: number, cols: number, stride: number): void {
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) target[i * stride + j] = values[i * cols + j];
}

/** Sets a variable to these values (its shape). */
export function assignValues(variable: tf.Variable, values: Float32Array): void {
  const tensor = tf.tensor(values, variable.shape);
  variable.assign(tensor);
  tensor.dispose();
}
