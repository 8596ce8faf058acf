import * as tf from '@tensorflow/tfjs-core';
import type { PatchDataset } from '../data/dataset.js';
import { SimdArena, type Region } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import type { HostDispatch, HostRouter, HostScores, RouteMode } from '../routing/router.js';
import type { RoutingStepStats } from '../analysis/utilisation.js';
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

/** Routing of a whole set, fixed while the routers are frozen: [count, k, l] patch indices and gates (the paper's router). */
interface FixedRouting {
  readonly indices: Int32Array;
  readonly gates: Float32Array;
}

/**
 * The two-layer pMoE's training step without the tape (eq. 1), for every sparse router, gate mode
 * and pooling:
 *   scores g_{j,s} = <w_s, x_j>          one product over the batch's B n patches   [B n, k]
 *   buffers, G = the router's kernel     routing/ (HostRouter.forward): rows and gates per expert place
 *   Z_s = X_{rows_s} W_s                 one product per expert over its places     [P, m/k]
 *   f = scale sum_s sum_r a_{r,s} sum_places ReLU(Z_{s,i,r}) G_{s,i},  scale = 1/l or 1/n
 * Backward: dZ_s = 1[Z > 0] G dhidden; dW_s = X_{rows_s}^T dZ_s; dG = sum_r dhidden ReLU(Z); the
 * router's backward turns dG (and its auxiliary losses' weights) into dg, then dW_router = X^T dg.
 * The rows are read in place through row tables; an empty place reads any row and counts for nothing.
 * With frozen routers (separate training's expert phase) the routing of both sets is computed once
 * (by the tf path, so it is the autodiff path's routing) and the router product is skipped.
 * Soft MoE's dense dispatch has its own step (fused-soft-moe.ts).
 */
export class FusedPmoe implements FusedTrainer {
  private readonly arena: SimdArena;
  private readonly sets: { train: ArenaSet; test: ArenaSet };
  private readonly shape: { n: number; d: number; k: number; kp: number; h: number; hp: number; l: number; outputs: number };
  private readonly scale: number;
  private readonly host: HostRouter;
  /** a_{r,s}: [k m/k, logits]. */
  private readonly output: Float32Array;
  private readonly fixed: { train: FixedRouting; test: FixedRouting } | null;
  /** Whether SGD moves the routers (trainable, and the router passes them a gradient). */
  private readonly routersMove: boolean;
  /** The auxiliary losses' weights: their upstream gradient in a step. */
  private readonly auxiliaryWeights: readonly number[];
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
  /** The last forward pass's dispatch, and the noise it drew. */
  private readonly dispatch: HostDispatch;
  private noise: Float32Array | undefined;
  private readonly pooled: Float64Array;
  private readonly dHidden: Float64Array;
  private stats = { steps: 0, dropped: 0, patches: 0, auxiliary: [0, 0, 0] };

  constructor(
    private readonly model: TwoLayerPmoe,
    train: PatchDataset,
    test: PatchDataset,
    private readonly settings: FusedSettings,
  ) {
    const { patchCount: n, patchDim: d, experts: k, neuronsPerExpert: h, patchesPerExpert: l, pooling } = model.config;
    if (!model.router.host) throw new Error(`FusedPmoe: the ${model.router.config.name} router has no kernel on plain arrays`);
    this.host = model.router.host;
    this.shape = { n, d, k, kp: pad4(k), h, hp: pad4(h), l, outputs: model.output.shape[1] };
    const { kp, hp } = this.shape;
    this.scale = 1 / (pooling === 'selected' ? l : n);
    this.output = model.output.dataSync() as Float32Array;
    this.routersMove = !model.routersFrozen && model.router.differentiable;
    const { importance, load, zLoss } = model.router.auxiliaryWeights;
    this.auxiliaryWeights = [importance, load, zLoss];
    this.fixed = model.routersFrozen ? { train: fixedRouting(model, train), test: fixedRouting(model, test) } : null;

    const arena = (this.arena = trainerArena(train, test));
    this.sets = { train: new ArenaSet(arena, train), test: new ArenaSet(arena, test) };
    const maxBatch = Math.max(settings.batchSize, EVAL_CHUNK);
    const places = Math.max(...[settings.batchSize, EVAL_CHUNK].flatMap((batch) => [this.host.places(batch, 'train'), this.host.places(batch, 'eval')]));
    const patchRows = pad4(maxBatch * n);
    const expertRows = pad4(places);
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
    this.dispatch = { places: 0, rows: new Int32Array(k * places), gates: new Float64Array(k * places), dropped: 0, auxiliary: new Float64Array(3) };
    this.pooled = new Float64Array(maxBatch * h);
    this.dHidden = new Float64Array(maxBatch * h);

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
    this.stats.steps++;
    this.stats.dropped += this.dispatch.dropped;
    this.stats.patches += samples.length * this.shape.n;
    for (let i = 0; i < 3; i++) this.stats.auxiliary[i] += this.dispatch.auxiliary[i];
  }

  /** What the steps since the last call measured of the routing; resets the counts. */
  takeStepStats(): RoutingStepStats {
    const stats = this.stats;
    this.stats = { steps: 0, dropped: 0, patches: 0, auxiliary: [0, 0, 0] };
    return stats;
  }

  evaluate(set: 'train' | 'test'): Evaluation {
    return evaluateInChunks(this.sets[set].data, this.shape.outputs, (samples) => this.forward(set, samples, 'eval'));
  }

  logits(samples: ArrayLike<number>): Float32Array {
    return Float32Array.from(this.forward('train', samples, 'eval'));
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

  /** The dispatch of these training samples by the current routers (evaluation mode): each expert's places' rows and gates. */
  routing(samples: ArrayLike<number>): { places: number; rows: Int32Array; gates: Float64Array } {
    this.routeBatch('train', samples, 'eval');
    const { places, rows, gates } = this.dispatch;
    const size = this.shape.k * places;
    return { places, rows: rows.slice(0, size), gates: (gates as Float64Array).slice(0, size) };
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

  private scoreTable(batch: number): HostScores {
    return { values: this.arena.floats(this.scores), rows: batch * this.shape.n, stride: this.shape.kp };
  }

  /** The router's dispatch of the samples into this.dispatch (and the noise it drew, in training). */
  private routeBatch(set: 'train' | 'test', samples: ArrayLike<number>, mode: RouteMode): void {
    const { n, k, l } = this.shape;
    const batch = samples.length;
    const fixed = this.fixed?.[set];
    const dispatch = this.dispatch;
    if (fixed) {
      const places = (dispatch.places = batch * l);
      for (let b = 0; b < batch; b++) {
        for (let s = 0; s < k; s++) {
          for (let t = 0; t < l; t++) {
            const from = (samples[b] * k + s) * l + t;
            dispatch.rows[s * places + b * l + t] = b * n + fixed.indices[from];
            dispatch.gates[s * places + b * l + t] = fixed.gates[from];
          }
        }
      }
      dispatch.dropped = 0;
      dispatch.auxiliary.fill(0);
      return;
    }
    const { arena } = this;
    const data = this.sets[set];
    data.product(data.allRows(samples, arena.ints(this.rows)), this.shape.kp, this.rows, this.routers, this.scores);
    this.noise = mode === 'train' ? this.model.drawNoise(batch * n) : undefined;
    this.host.forward(this.scoreTable(batch), batch, mode, dispatch, this.noise);
  }

  /** Logits [B, logits] of the samples; leaves the dispatch and each expert's Z for backward(). */
  private forward(set: 'train' | 'test', samples: ArrayLike<number>, mode: RouteMode): Float64Array {
    const { arena, output, scale, pooled } = this;
    const { n, k, h, hp, outputs } = this.shape;
    const data = this.sets[set];
    const batch = samples.length;
    this.routeBatch(set, samples, mode);
    const logits = new Float64Array(batch * outputs);
    const { places, rows: placeRows, gates } = this.dispatch;
    for (let s = 0; s < k; s++) {
      const rows = arena.ints(this.expertRows[s]);
      for (let i = 0; i < places; i++) {
        const row = placeRows[s * places + i];
        rows[i] = row >= 0 ? data.entry(samples[Math.floor(row / n)], row % n) : data.entry(samples[0], 0);
      }
      data.product(padRows(rows, places), hp, this.expertRows[s], this.experts[s], this.activations[s]);
      const z = arena.floats(this.activations[s]);
      pooled.fill(0, 0, batch * h);
      for (let i = 0; i < places; i++) {
        const row = placeRows[s * places + i];
        if (row < 0) continue;
        const at = Math.floor(row / n) * h;
        const gate = gates[s * places + i];
        for (let r = 0; r < h; r++) {
          const value = z[i * hp + r];
          if (value > 0) pooled[at + r] += value * gate;
        }
      }
      for (let b = 0; b < batch; b++) {
        for (let r = 0; r < h; r++) {
          const row = (s * h + r) * outputs;
          for (let o = 0; o < outputs; o++) logits[b * outputs + o] += pooled[b * h + r] * output[row + o];
        }
      }
    }
    for (let i = 0; i < logits.length; i++) logits[i] *= scale;
    return logits;
  }

  /** Fills the gradient regions for the training samples; returns the loss (auxiliary losses included). */
  private backward(samples: ArrayLike<number>): number {
    const { arena, output, scale, dHidden } = this;
    const { n, k, h, hp, outputs } = this.shape;
    const batch = samples.length;
    const logits = this.forward('train', samples, 'train');
    const labels = Int32Array.from({ length: batch }, (_, b) => this.sets.train.data.labels[samples[b]]);
    const dLogits = new Float64Array(batch * outputs);
    let { loss } = lossAndGradient(logits, labels, outputs, dLogits);
    const { places, rows: placeRows, gates } = this.dispatch;
    const dGates = new Float64Array(k * places);
    for (let s = 0; s < k; s++) {
      const z = arena.floats(this.activations[s]);
      const dz = arena.floats(this.dActivations[s]);
      for (let b = 0; b < batch; b++) {
        for (let r = 0; r < h; r++) {
          let sum = 0;
          for (let o = 0; o < outputs; o++) sum += dLogits[b * outputs + o] * output[(s * h + r) * outputs + o];
          dHidden[b * h + r] = sum * scale;
        }
      }
      for (let i = 0; i < places; i++) {
        const row = placeRows[s * places + i];
        if (row < 0) {
          dz.fill(0, i * hp, i * hp + h);
          continue;
        }
        const at = Math.floor(row / n) * h;
        const gate = gates[s * places + i];
        let dGate = 0;
        for (let r = 0; r < h; r++) {
          const value = z[i * hp + r];
          if (value > 0) {
            dz[i * hp + r] = dHidden[at + r] * gate;
            dGate += dHidden[at + r] * value;
          } else {
            dz[i * hp + r] = 0;
          }
        }
        dGates[s * places + i] = dGate;
      }
      this.sets.train.productT(places, hp, this.expertRows[s], this.dActivations[s], this.expertGrads[s]);
    }
    for (let i = 0; i < 3; i++) loss += this.auxiliaryWeights[i] * this.dispatch.auxiliary[i];
    if (!this.routersMove) return loss;
    // The gates' and auxiliary losses' gradient reaches the scores: dS [B n, k].
    const ds = arena.floats(this.dScores);
    this.host.backward(this.scoreTable(batch), batch, 'train', this.dispatch, dGates, this.auxiliaryWeights, ds, this.noise);
    this.sets.train.productT(batch * n, this.shape.kp, this.rows, this.dScores, this.routerGrads);
    return loss;
  }
}

/** The routing of every sample of `data` by the model's (frozen) routers, through the tf path. */
function fixedRouting(model: TwoLayerPmoe, data: PatchDataset): FixedRouting {
  const { patchCount: n, patchDim: d, experts: k, patchesPerExpert: l } = model.config;
  const indices = new Int32Array(data.count * k * l);
  const gates = new Float32Array(data.count * k * l);
  for (let start = 0; start < data.count; start += 500) {
    const end = Math.min(start + 500, data.count);
    tf.tidy(() => {
      const patches = tf.tensor3d(data.patches.subarray(start * n * d, end * n * d), [end - start, n, d]);
      const routing = model.routing(patches);
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
