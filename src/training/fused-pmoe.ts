import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import { SimdArena, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { gateGradient, topL, writeGates, type ScoreColumn, type Selection } from '../ops/expert-choice-core.js';
import { patchScores, route } from '../routing/route.js';
import type { Evaluation } from './evaluate.js';
import {
  ArenaSet,
  EVAL_CHUNK,
  evaluateInChunks,
  lossAndGradient,
  padInto,
  padRows,
  trainerArena,
  unpad,
  assignValues,
  type FusedSettings,
  type FusedTrainer,
} from './fused.js';

/** Routing of a whole set, fixed while the routers are frozen: [count, k, l] patch indices and gates. */
interface FixedRouting {
  readonly indices: Int32Array;
  readonly gates: Float32Array;
}

/**
 * The two-layer pMoE's training step without the tape (eq. 1), for every gate mode and pooling:
 *   scores g_{j,s} = <w_s, x_j>          one product over the batch's B n patches   [B n, k]
 *   J_s = top-l of g_{., s}, G = gates   src/ops/expert-choice-core.ts (ties to the lower patch index)
 *   Z_s = X_{J_s} W_s                    one product per expert over its B l rows   [B l, m/k]
 *   f = scale sum_s sum_r a_{r,s} sum_t ReLU(Z_{s,t,r}) G_{s,t},  scale = 1/l or 1/n
 * Backward: dZ_s = 1[Z > 0] G dhidden; dW_s = X_{J_s}^T dZ_s; dG = sum_r dhidden ReLU(Z); the
 * gate's gradient to the selected scores (softmax over the selected or over all n; none for hard
 * gates; expert-choice-core.ts's gateGradient), then dW_router = X^T dg. The selected rows are read in place through row tables.
 * With frozen routers (separate training's expert phase) the routing of both sets is computed once
 * (by the tf path, so it is the autodiff path's routing) and the router product is skipped.
 */
export class FusedPmoe implements FusedTrainer {
  private readonly arena: SimdArena;
  private readonly sets: { train: ArenaSet; test: ArenaSet };
  private readonly shape: { n: number; d: number; k: number; kp: number; h: number; hp: number; l: number; outputs: number };
  private readonly scale: number;
  /** a_{r,s}: [k m/k, logits]. */
  private readonly output: Float32Array;
  private readonly fixed: { train: FixedRouting; test: FixedRouting } | null;
  /** Whether SGD moves the routers (trainable, and a gate that passes them a gradient). */
  private readonly routersMove: boolean;
  private readonly routers: Region;
  private readonly routerGrads: Region;
  private readonly rows: Region;
  private readonly scores: Region;
  private readonly dScores: Region;
  private readonly experts: Region[];
  private readonly expertGrads: Region[];
  private readonly expertRows: Region[];
  private readonly activations: Region[];
  private readonly dActivations: Region[];
  /** The last forward pass's routing, [B, k, l], and for softmax-all the log-sum-exp per (b, s). */
  private readonly selected: Int32Array;
  private readonly gates: Float64Array;
  private readonly logSumExp: Float64Array;

  constructor(
    private readonly model: TwoLayerPmoe,
    train: PatchDataset,
    test: PatchDataset,
    private readonly settings: FusedSettings,
  ) {
    const { patchCount: n, patchDim: d, experts: k, neuronsPerExpert: h, patchesPerExpert: l, pooling, gate } = model.config;
    this.shape = { n, d, k, kp: pad4(k), h, hp: pad4(h), l, outputs: model.output.shape[1] };
    const { kp, hp } = this.shape;
    this.scale = 1 / (pooling === 'selected' ? l : n);
    this.output = model.output.dataSync() as Float32Array;
    this.routersMove = !model.routersFrozen && gate !== 'hard';
    this.fixed = model.routersFrozen ? { train: fixedRouting(model, train), test: fixedRouting(model, test) } : null;

    const arena = (this.arena = trainerArena(train, test));
    this.sets = { train: new ArenaSet(arena, train), test: new ArenaSet(arena, test) };
    const maxBatch = Math.max(settings.batchSize, EVAL_CHUNK);
    const patchRows = pad4(maxBatch * n);
    const expertRows = pad4(maxBatch * l);
    this.routers = arena.alloc(d * kp);
    this.routerGrads = arena.alloc(pad4(d) * kp);
    this.rows = arena.alloc(patchRows);
    this.scores = arena.alloc(patchRows * kp);
    this.dScores = arena.alloc(patchRows * kp);
    const perExpert = (size: number) => Array.from({ length: k }, () => arena.alloc(size));
    this.experts = perExpert(d * hp);
    this.expertGrads = perExpert(pad4(d) * hp);
    this.expertRows = perExpert(expertRows);
    this.activations = perExpert(expertRows * hp);
    this.dActivations = perExpert(expertRows * hp);
    this.selected = new Int32Array(maxBatch * k * l);
    this.gates = new Float64Array(maxBatch * k * l);
    this.logSumExp = new Float64Array(maxBatch * k);

    padInto(arena.floats(this.routers), model.routers.dataSync(), d, k, kp);
    const experts = model.experts.dataSync();
    this.experts.forEach((region, s) => padInto(arena.floats(region), experts.subarray(s * d * h, (s + 1) * d * h), d, h, hp));
  }

  step(samples: ArrayLike<number>): void {
    this.backward(samples);
    const { arena, settings } = this;
    const { d, k, kp, hp } = this.shape;
    for (let s = 0; s < k; s++) arena.sgdStep(this.experts[s], this.expertGrads[s], d * hp, settings.learningRate);
    if (this.routersMove) arena.sgdStep(this.routers, this.routerGrads, d * kp, settings.learningRate);
  }

  evaluate(set: 'train' | 'test'): Evaluation {
    return evaluateInChunks(this.sets[set].data, this.shape.outputs, (samples) => this.forward(set, samples));
  }

  logits(samples: ArrayLike<number>): Float32Array {
    return Float32Array.from(this.forward('train', samples));
  }

  gradients(samples: ArrayLike<number>): { loss: number; grads: Record<string, Float32Array> } {
    const loss = this.backward(samples);
    const { arena } = this;
    const { d, k, kp, h, hp } = this.shape;
    const experts = new Float32Array(k * d * h);
    this.expertGrads.forEach((region, s) => experts.set(unpad(arena.floats(region), d, h, hp), s * d * h));
    const grads: Record<string, Float32Array> = { experts };
    // As tf: hard gates leave the routers off the gradient's path (no gradient, not a zero one).
    if (this.routersMove) grads.routers = unpad(arena.floats(this.routerGrads), d, k, kp);
    return { loss, grads };
  }

  /** The routing of these training samples by the current routers: [B, k, l] patch indices and gates. */
  routing(samples: ArrayLike<number>): { indices: Int32Array; gates: Float64Array } {
    this.routeBatch('train', samples);
    const size = samples.length * this.shape.k * this.shape.l;
    return { indices: this.selected.slice(0, size), gates: this.gates.slice(0, size) };
  }

  writeBack(): void {
    const { arena, model } = this;
    const { d, k, kp, h, hp } = this.shape;
    const experts = new Float32Array(k * d * h);
    this.experts.forEach((region, s) => experts.set(unpad(arena.floats(region), d, h, hp), s * d * h));
    assignValues(model.experts, experts);
    if (this.routersMove) assignValues(model.routers, unpad(arena.floats(this.routers), d, k, kp));
  }

  dispose(): void {
    this.arena.dispose();
  }

  /** Chooses each expert's l patches and their gates for the samples, into selected / gates. */
  private routeBatch(set: 'train' | 'test', samples: ArrayLike<number>): void {
    const { n, k, kp, l } = this.shape;
    const batch = samples.length;
    const fixed = this.fixed?.[set];
    if (fixed) {
      for (let b = 0; b < batch; b++) {
        const from = samples[b] * k * l;
        this.selected.set(fixed.indices.subarray(from, from + k * l), b * k * l);
        for (let i = 0; i < k * l; i++) this.gates[b * k * l + i] = fixed.gates[from + i];
      }
      return;
    }
    const { arena } = this;
    const data = this.sets[set];
    data.product(data.allRows(samples, arena.ints(this.rows)), kp, this.rows, this.routers, this.scores);
    const gate = this.model.config.gate;
    const column: ScoreColumn = { values: arena.floats(this.scores), base: 0, step: kp, n };
    const selection: Selection = { chosen: this.selected, gates: this.gates, at: 0, l };
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * kp + s;
        selection.at = (b * k + s) * l;
        topL(column, selection);
        this.logSumExp[b * k + s] = writeGates(gate, column, selection);
      }
    }
  }

  /** Logits [B, logits] of the samples; leaves the routing and each expert's Z for backward(). */
  private forward(set: 'train' | 'test', samples: ArrayLike<number>): Float64Array {
    const { arena, output, scale } = this;
    const { k, h, hp, l, outputs } = this.shape;
    const data = this.sets[set];
    const batch = samples.length;
    this.routeBatch(set, samples);
    const logits = new Float64Array(batch * outputs);
    const { selected, gates } = this;
    for (let s = 0; s < k; s++) {
      const rows = arena.ints(this.expertRows[s]);
      for (let b = 0; b < batch; b++) for (let t = 0; t < l; t++) rows[b * l + t] = data.entry(samples[b], selected[(b * k + s) * l + t]);
      data.product(padRows(rows, batch * l), hp, this.expertRows[s], this.experts[s], this.activations[s]);
      const z = arena.floats(this.activations[s]);
      for (let b = 0; b < batch; b++) {
        const gateAt = (b * k + s) * l;
        for (let r = 0; r < h; r++) {
          let pooled = 0;
          for (let t = 0, at = b * l * hp + r; t < l; t++, at += hp) {
            const value = z[at];
            if (value > 0) pooled += value * gates[gateAt + t];
          }
          const row = (s * h + r) * outputs;
          for (let o = 0; o < outputs; o++) logits[b * outputs + o] += pooled * output[row + o];
        }
      }
    }
    for (let i = 0; i < logits.length; i++) logits[i] *= scale;
    return logits;
  }

  /** Fills the gradient regions for the training samples; returns the loss. */
  private backward(samples: ArrayLike<number>): number {
    const { arena, output, scale } = this;
    const { n, k, kp, h, hp, l, outputs } = this.shape;
    const batch = samples.length;
    const logits = this.forward('train', samples);
    const labels = Int32Array.from({ length: batch }, (_, b) => this.sets.train.data.labels[samples[b]]);
    const dLogits = new Float64Array(batch * outputs);
    const { loss } = lossAndGradient(logits, labels, outputs, dLogits);
    const dGates = new Float64Array(batch * k * l);
    const dHidden = new Float64Array(h);
    for (let s = 0; s < k; s++) {
      const z = arena.floats(this.activations[s]);
      const dz = arena.floats(this.dActivations[s]);
      for (let b = 0; b < batch; b++) {
        for (let r = 0; r < h; r++) {
          let sum = 0;
          for (let o = 0; o < outputs; o++) sum += dLogits[b * outputs + o] * output[(s * h + r) * outputs + o];
          dHidden[r] = sum * scale;
        }
        for (let t = 0; t < l; t++) {
          const at = (b * k + s) * l + t;
          const gate = this.gates[at];
          const row = (b * l + t) * hp;
          let dGate = 0;
          for (let r = 0; r < h; r++) {
            const value = z[row + r];
            if (value > 0) {
              dz[row + r] = dHidden[r] * gate;
              dGate += dHidden[r] * value;
            } else {
              dz[row + r] = 0;
            }
          }
          dGates[at] = dGate;
        }
      }
      this.sets.train.productT(batch * l, hp, this.expertRows[s], this.dActivations[s], this.expertGrads[s]);
    }
    if (!this.routersMove) return loss;
    // The gates' gradient reaches the scores: dS [B n, k], zero where nothing depends on a score.
    const ds = arena.floats(this.dScores);
    ds.fill(0, 0, batch * n * kp);
    const gate = this.model.config.gate;
    const column: ScoreColumn = { values: arena.floats(this.scores), base: 0, step: kp, n };
    const selection: Selection = { chosen: this.selected, gates: this.gates, at: 0, l };
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * kp + s;
        selection.at = (b * k + s) * l;
        gateGradient(gate, column, selection, dGates, ds, this.logSumExp[b * k + s]);
      }
    }
    this.sets.train.productT(batch * n, kp, this.rows, this.dScores, this.routerGrads);
    return loss;
  }
}

/** The routing of every sample of `data` by the model's (frozen) routers, through the tf path. */
function fixedRouting(model: TwoLayerPmoe, data: PatchDataset): FixedRouting {
  const { patchCount: n, patchDim: d, experts: k, patchesPerExpert: l, gate } = model.config;
  const indices = new Int32Array(data.count * k * l);
  const gates = new Float32Array(data.count * k * l);
  for (let start = 0; start < data.count; start += 500) {
    const end = Math.min(start + 500, data.count);
    tf.tidy(() => {
      const patches = tf.tensor3d(data.patches.subarray(start * n * d, end * n * d), [end - start, n, d]);
      const routing = route(patchScores(patches, model.routers), l, gate);
      indices.set(routing.indices.dataSync() as Int32Array, start * k * l);
      gates.set(routing.gates.dataSync() as Float32Array, start * k * l);
    });
  }
  return { indices, gates };
}

/**
 * Separate training's router phase (eq. 6) without the tape. The loss is linear in the routers:
 * l_r = -(1/B) sum_i sum_s (k 1[y_i = s] - 1) <w_s, P_i> with P_i = sum_j x_i^(j), so the patch
 * sums are computed once and a step is one product, dW = P_batch^T coef [d, k].
 */
export class FusedRouterPhase {
  private readonly arena = new SimdArena();
  private readonly d: number;
  private readonly k: number;
  private readonly kp: number;
  private readonly sums: Region;
  private readonly allRows: Region;
  private readonly rows: Region;
  private readonly coefficients: Region;
  private readonly routers: Region;
  private readonly grads: Region;
  private readonly scores: Region;

  constructor(
    private readonly model: TwoLayerPmoe,
    private readonly data: PatchDataset,
    private readonly settings: FusedSettings,
  ) {
    const { patchCount: n, patchDim: d, experts: k } = model.config;
    this.d = d;
    this.k = k;
    this.kp = pad4(k);
    const arena = this.arena;
    this.sums = arena.alloc(data.count * d);
    this.allRows = arena.alloc(pad4(data.count));
    this.rows = arena.alloc(pad4(settings.batchSize));
    this.coefficients = arena.alloc(settings.batchSize * this.kp);
    this.routers = arena.alloc(d * this.kp);
    this.grads = arena.alloc(pad4(d) * this.kp);
    this.scores = arena.alloc(pad4(data.count) * this.kp);
    const sums = arena.floats(this.sums);
    const sum = new Float64Array(d);
    for (let i = 0; i < data.count; i++) {
      sum.fill(0);
      for (let j = 0; j < n; j++) {
        const at = (i * n + j) * d;
        for (let c = 0; c < d; c++) sum[c] += data.patches[at + c];
      }
      sums.set(sum, i * d);
    }
    const all = arena.ints(this.allRows);
    for (let i = 0; i < data.count; i++) all[i] = this.sums.ptr + i * d * 4;
    padRows(all, data.count);
    padInto(arena.floats(this.routers), model.routers.dataSync(), d, k, this.kp);
  }

  /** One SGD step on the samples at these indices. */
  step(samples: ArrayLike<number>): void {
    const { arena, d, k, kp } = this;
    const batch = samples.length;
    const rows = arena.ints(this.rows);
    const all = arena.ints(this.allRows);
    const coefficients = arena.floats(this.coefficients);
    for (let b = 0; b < batch; b++) {
      rows[b] = all[samples[b]];
      // dl_r/dw_s = -(1/B) sum_i (k 1[y_i = s] - 1) P_i.
      for (let s = 0; s < k; s++) coefficients[b * kp + s] = -((this.data.labels[samples[b]] === s ? k : 0) - 1) / batch;
    }
    arena.gemmT(pad4(d), kp, batch, this.rows, this.coefficients, this.grads);
    arena.sgdStep(this.routers, this.grads, d * kp, this.settings.learningRate);
  }

  /** The router loss over the whole set. */
  loss(): number {
    const { arena, d, k, kp, data } = this;
    arena.gemm(pad4(data.count), kp, d, this.allRows, this.routers, this.scores);
    const scores = arena.floats(this.scores);
    let total = 0;
    for (let i = 0; i < data.count; i++) for (let s = 0; s < k; s++) total += ((data.labels[i] === s ? k : 0) - 1) * scores[i * kp + s];
    return -total / data.count;
  }

  writeBack(): void {
    const { arena, d, k, kp } = this;
    assignValues(this.model.routers, unpad(arena.floats(this.routers), d, k, kp));
  }

  dispose(): void {
    this.arena.dispose();
  }
}
