import type { PatchDataset } from '../data/dataset.js';
import type { Region, SimdArena } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { TwoLayerCnn } from '../models/two-layer-cnn.js';
import type { Evaluation } from './evaluate.js';
import {
  ArenaSet,
  assignValues,
  EVAL_CHUNK,
  evaluateInChunks,
  lossAndGradient,
  padInto,
  trainerArena,
  unpad,
  type FusedSettings,
  type FusedTrainer,
} from './fused.js';

/**
 * The two-layer CNN's training step without the tape:
 *   H = X W            [B n, m], X the batch's patches [B n, d], W = w_r as columns [d, m]
 *   f = (1/n) sum_j ReLU(H_j) a                                  (eq. 5; a [m, logits])
 *   dH = 1[H > 0] (dL/df a^T) / n,  dW = X^T dH
 * two products (gemm, gemmT) read X in place from the data set; the pooling and its gradient are
 * SIMD passes (reluSums, reluMask), summing in float64 as before.
 */
export class FusedCnn implements FusedTrainer {
  private readonly arena: SimdArena;
  private readonly sets: { train: ArenaSet; test: ArenaSet };
  private readonly n: number;
  private readonly d: number;
  private readonly m: number;
  /** m padded to the kernels' multiple of 4. */
  private readonly mp: number;
  private readonly outputs: number;
  /** a: [m, logits]. */
  private readonly output: Float32Array;
  private readonly weights: Region;
  private readonly grads: Region;
  private readonly rows: Region;
  private readonly hidden: Region;
  private readonly dHidden: Region;
  /** sum_j ReLU(H_j) per sample, float64 [B, mp]; dL/d(that sum) per sample, float32 [B, mp]. */
  private readonly pooled: Region;
  private readonly dPooled: Region;

  constructor(
    private readonly model: TwoLayerCnn,
    train: PatchDataset,
    test: PatchDataset,
    private readonly settings: FusedSettings,
  ) {
    const { patchCount: n, patchDim: d, neurons: m } = model.config;
    this.n = n;
    this.d = d;
    this.m = m;
    this.mp = pad4(m);
    this.output = model.output.dataSync() as Float32Array;
    this.outputs = model.output.shape[1];
    const arena = (this.arena = trainerArena(train, test));
    this.sets = { train: new ArenaSet(arena, train), test: new ArenaSet(arena, test) };
    const maxBatch = Math.max(settings.batchSize, EVAL_CHUNK);
    const maxRows = pad4(maxBatch * n);
    this.weights = arena.alloc(d * this.mp);
    this.grads = arena.alloc(pad4(d) * this.mp);
    this.rows = arena.alloc(maxRows);
    this.hidden = arena.alloc(maxRows * this.mp);
    this.dHidden = arena.alloc(maxRows * this.mp);
    this.pooled = arena.alloc(2 * maxBatch * this.mp);
    this.dPooled = arena.alloc(maxBatch * this.mp);
    padInto(arena.floats(this.weights), model.hidden.dataSync(), d, m, this.mp);
  }

  step(samples: ArrayLike<number>): void {
    this.backward(samples);
    this.arena.sgdStep(this.weights, this.grads, this.d * this.mp, this.settings.learningRate);
  }

  evaluate(set: 'train' | 'test'): Evaluation {
    const data = this.sets[set];
    return evaluateInChunks(data.data, this.outputs, (samples) => this.forward(data, samples));
  }

  logits(samples: ArrayLike<number>): Float32Array {
    return Float32Array.from(this.forward(this.sets.train, samples));
  }

  gradients(samples: ArrayLike<number>): { loss: number; grads: Record<string, Float32Array> } {
    const loss = this.backward(samples);
    return { loss, grads: { hidden: unpad(this.arena.floats(this.grads), this.d, this.m, this.mp) } };
  }

  writeBack(): void {
    const { arena, d, m, mp } = this;
    assignValues(this.model.hidden, unpad(arena.floats(this.weights), d, m, mp));
  }

  dispose(): void {
    this.arena.dispose();
  }

  /** Logits [B, logits] (float64) of the samples; leaves H in `hidden` and the patches' rows in `rows`. */
  private forward(set: ArenaSet, samples: ArrayLike<number>): Float64Array {
    const { arena, n, m, mp, outputs, output } = this;
    set.product(set.allRows(samples, arena.ints(this.rows)), mp, this.rows, this.weights, this.hidden);
    const batch = samples.length;
    arena.reluSums(batch, n, mp, this.hidden, this.pooled);
    const pooled = arena.doubles(this.pooled);
    const logits = new Float64Array(batch * outputs);
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < m; r++) {
        const p = pooled[b * mp + r] / n;
        for (let o = 0; o < outputs; o++) logits[b * outputs + o] += p * output[r * outputs + o];
      }
    }
    return logits;
  }

  /** Fills `grads` with dL/dW of the training samples; returns the loss. */
  private backward(samples: ArrayLike<number>): number {
    const { arena, n, m, mp, outputs, output } = this;
    const set = this.sets.train;
    const logits = this.forward(set, samples);
    const batch = samples.length;
    const labels = Int32Array.from({ length: batch }, (_, b) => set.data.labels[samples[b]]);
    const dLogits = new Float64Array(batch * outputs);
    const { loss } = lossAndGradient(logits, labels, outputs, dLogits);
    const dPooled = arena.floats(this.dPooled);
    for (let b = 0; b < batch; b++) {
      for (let r = 0; r < m; r++) {
        let sum = 0;
        for (let o = 0; o < outputs; o++) sum += dLogits[b * outputs + o] * output[r * outputs + o];
        dPooled[b * mp + r] = sum / n;
      }
    }
    arena.reluMask(batch, n, mp, this.hidden, this.dPooled, this.dHidden);
    set.productT(batch * n, mp, this.rows, this.dHidden, this.grads);
    return loss;
  }
}
