import type { PatchDataset } from '../data/dataset.js';
import type { Region, SimdArena } from '../kernels/simd-arena.js';
import { pad4 } from '../kernels/simd-gemm.js';
import type { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import type { SoftHostRouter, SoftHostState } from '../routing/router.js';
import { SOFT_MOE_EPSILON } from '../routing/routers/soft-moe.js';
import type { RoutingStepStats } from '../analysis/utilisation.js';
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
 * The two-layer pMoE's training step without the tape for Soft MoE's router (routing/routers/soft-moe.ts).
 * With D, C [B n, k p] the dispatch and combine weights, slot t of expert s is the mix
 * x~_{b,s,t} = sum_j D[b n + j, s p + t] x_{b,j}, so its expert's pre-activations are
 *   Z[b, s p + t] = sum_j D[b n + j, s p + t] Y_s[b n + j],   Y_s = X W_s   [B n, m/k] (one product per expert)
 * and f = scale sum_s sum_r a_{r,s} sum_t ReLU(Z[b, s p + t, r]) c[b, s p + t], c = C summed over the image's rows.
 * Backward: dZ = 1[Z > 0] c dhidden, dc = sum_r dhidden ReLU(Z); dY_s = D dZ and dW_s = X^T dY_s;
 * dD = Y_s dZ^T, dC = dc; the router's backward takes them to the products X mu~ and the scale, then
 * dmu~ = X^T dP and mu's normalisation backward gives dmu. The slot mixes are never formed.
 * The router's products and every expert's are one product with [mu~ | W_1 .. W_k] (columns: k p
 * padded to kpp, then m/k padded to hp per expert), and their gradients one transposed product.
 */
export class FusedSoftPmoe implements FusedTrainer {
  private readonly arena: SimdArena;
  private readonly sets: { train: ArenaSet; test: ArenaSet };
  private readonly norms: { train: Float64Array; test: Float64Array };
  private readonly soft: SoftHostRouter;
  private readonly shape: { n: number; d: number; k: number; p: number; kp: number; kpp: number; h: number; hp: number; width: number; outputs: number };
  private readonly poolScale: number;
  private readonly output: Float32Array;
  /** mu [d, kpp] and its gradient. */
  private readonly mu: Region;
  private readonly muGrads: Region;
  /** [mu~ | W_1 .. W_k]: [d, width], and its gradient [pad4(d), width]. */
  private readonly weights: Region;
  private readonly grads: Region;
  private readonly rows: Region;
  /** X [mu~ | W]: [B n, width], and its gradient. */
  private readonly products: Region;
  private readonly dProducts: Region;
  private scale: number;
  private scaleGrad = 0;
  private inverse: Float64Array = new Float64Array(0);
  private readonly state: SoftHostState;
  /** Z and the slots' gates of the last forward pass: [B, k p, m/k] and [B, k p]. */
  private readonly z: Float64Array;
  private readonly gates: Float64Array;
  private steps = 0;

  constructor(
    private readonly model: TwoLayerPmoe,
    train: PatchDataset,
    test: PatchDataset,
    private readonly settings: FusedSettings,
  ) {
    const soft = model.router.soft;
    if (!soft) throw new Error(`FusedSoftPmoe: the ${model.router.config.name} router is not Soft MoE`);
    this.soft = soft;
    const { patchCount: n, patchDim: d, experts: k, neuronsPerExpert: h, patchesPerExpert: l, pooling } = model.config;
    const kp = soft.columns;
    const [kpp, hp] = [pad4(kp), pad4(h)];
    const width = kpp + k * hp;
    this.shape = { n, d, k, p: kp / k, kp, kpp, h, hp, width, outputs: model.output.shape[1] };
    this.poolScale = 1 / (pooling === 'selected' ? l : n);
    this.output = model.output.dataSync() as Float32Array;
    this.scale = model.routerWeights.scale.dataSync()[0];
    const arena = (this.arena = trainerArena(train, test));
    this.sets = { train: new ArenaSet(arena, train), test: new ArenaSet(arena, test) };
    this.norms = { train: rowNorms(train), test: rowNorms(test) };
    const maxBatch = Math.max(settings.batchSize, EVAL_CHUNK);
    const maxRows = pad4(maxBatch * n);
    this.mu = arena.alloc(d * kpp);
    this.muGrads = arena.alloc(d * kpp);
    this.weights = arena.alloc(d * width);
    this.grads = arena.alloc(pad4(d) * width);
    this.rows = arena.alloc(maxRows);
    this.products = arena.alloc(maxRows * width);
    this.dProducts = arena.alloc(maxRows * width);
    const size = maxBatch * n * kp;
    this.state = { logits: new Float64Array(size), dispatch: new Float64Array(size), combine: new Float64Array(size) };
    this.z = new Float64Array(maxBatch * kp * h);
    this.gates = new Float64Array(maxBatch * kp);
    padInto(arena.floats(this.mu), model.routers.dataSync(), d, kp, kpp);
    const experts = model.experts.dataSync();
    const weights = arena.floats(this.weights);
    for (let s = 0; s < k; s++) for (let i = 0; i < d; i++) for (let r = 0; r < h; r++) weights[i * width + kpp + s * hp + r] = experts[(s * d + i) * h + r];
  }

  /** Expert s's weights or gradient [d, m/k] out of the combined [., width] region. */
  private expertColumns(values: Float32Array, s: number): Float32Array {
    const { d, h, hp, kpp, width } = this.shape;
    const out = new Float32Array(d * h);
    for (let i = 0; i < d; i++) for (let r = 0; r < h; r++) out[i * h + r] = values[i * width + kpp + s * hp + r];
    return out;
  }

  private allExperts(values: Float32Array): Float32Array {
    const { d, k, h } = this.shape;
    const out = new Float32Array(k * d * h);
    for (let s = 0; s < k; s++) out.set(this.expertColumns(values, s), s * d * h);
    return out;
  }

  step(samples: ArrayLike<number>): void {
    this.backward(samples);
    const { arena, settings } = this;
    const { d, kpp, width } = this.shape;
    // The router's columns of the combined weights are recomputed from mu at the next forward pass.
    arena.sgdStep(this.weights, this.grads, d * width, settings.learningRate);
    arena.sgdStep(this.mu, this.muGrads, d * kpp, settings.learningRate);
    this.scale -= settings.learningRate * this.scaleGrad;
    this.steps++;
  }

  /** Soft MoE drops nothing and has no auxiliary loss: only the steps are counted. */
  takeStepStats(): RoutingStepStats {
    const stats = { steps: this.steps, patches: 0, dropped: 0, auxiliary: [0, 0, 0] };
    this.steps = 0;
    return stats;
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
    const { d, kp, kpp } = this.shape;
    const experts = this.allExperts(arena.floats(this.grads));
    return { loss, grads: { experts, routers: unpad(arena.floats(this.muGrads), d, kp, kpp), 'router/scale': Float32Array.of(this.scaleGrad) } };
  }

  writeBack(): void {
    const { arena, model } = this;
    const { d, kp, kpp } = this.shape;
    assignValues(model.experts, this.allExperts(arena.floats(this.weights)));
    assignValues(model.routers, unpad(arena.floats(this.mu), d, kp, kpp));
    assignValues(model.routerWeights.scale, Float32Array.of(this.scale));
  }

  dispose(): void {
    this.arena.dispose();
  }

  /** Logits [B, logits]; leaves the routing state, the products, Z and the gates for backward(). */
  private forward(set: 'train' | 'test', samples: ArrayLike<number>): Float64Array {
    const { arena, output, soft, z, gates, state } = this;
    const { n, d, k, p, kp, kpp, h, hp, width, outputs } = this.shape;
    const data = this.sets[set];
    const batch = samples.length;
    const rows = batch * n;
    this.inverse = soft.normaliseKernel(
      { values: arena.floats(this.mu), rows: d, stride: kpp },
      { values: arena.floats(this.weights), rows: d, stride: width },
    );
    data.product(data.allRows(samples, arena.ints(this.rows)), width, this.rows, this.weights, this.products);
    const products = arena.floats(this.products);
    soft.forward({ values: products, rows, stride: width }, this.batchNorms(set, samples), this.scale, state);
    gates.fill(0, 0, batch * kp);
    for (let r = 0; r < rows; r++) for (let c = 0; c < kp; c++) gates[Math.floor(r / n) * kp + c] += state.combine[r * kp + c];
    const logits = new Float64Array(batch * outputs);
    z.fill(0, 0, batch * kp * h);
    for (let s = 0; s < k; s++) {
      const column = kpp + s * hp;
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < p; t++) {
          const c = s * p + t;
          const at = (b * kp + c) * h;
          for (let j = 0; j < n; j++) {
            const weight = state.dispatch[(b * n + j) * kp + c];
            const row = (b * n + j) * width + column;
            for (let r = 0; r < h; r++) z[at + r] += weight * products[row + r];
          }
        }
        for (let r = 0; r < h; r++) {
          let pooled = 0;
          for (let t = 0; t < p; t++) {
            const value = z[(b * kp + s * p + t) * h + r];
            if (value > 0) pooled += value * gates[b * kp + s * p + t];
          }
          const row = (s * h + r) * outputs;
          for (let o = 0; o < outputs; o++) logits[b * outputs + o] += pooled * output[row + o];
        }
      }
    }
    for (let i = 0; i < logits.length; i++) logits[i] *= this.poolScale;
    return logits;
  }

  private batchNorms(set: 'train' | 'test', samples: ArrayLike<number>): Float64Array {
    const n = this.shape.n;
    const all = this.norms[set];
    const norms = new Float64Array(samples.length * n);
    for (let b = 0; b < samples.length; b++) norms.set(all.subarray(samples[b] * n, (samples[b] + 1) * n), b * n);
    return norms;
  }

  /** Fills the gradients for the training samples; returns the loss. */
  private backward(samples: ArrayLike<number>): number {
    const { arena, output, soft, z, gates, state } = this;
    const { n, d, k, p, kp, kpp, h, hp, width, outputs } = this.shape;
    const batch = samples.length;
    const rows = batch * n;
    const logits = this.forward('train', samples);
    const labels = Int32Array.from({ length: batch }, (_, b) => this.sets.train.data.labels[samples[b]]);
    const dLogits = new Float64Array(batch * outputs);
    const { loss } = lossAndGradient(logits, labels, outputs, dLogits);
    const dDispatch = new Float64Array(rows * kp);
    const dCombine = new Float64Array(rows * kp);
    const dz = new Float64Array(kp * h);
    const dHidden = new Float64Array(h);
    const products = arena.floats(this.products);
    const dp = arena.floats(this.dProducts);
    dp.fill(0, 0, pad4(rows) * width);
    for (let s = 0; s < k; s++) {
      const column = kpp + s * hp;
      for (let b = 0; b < batch; b++) {
        for (let r = 0; r < h; r++) {
          let sum = 0;
          for (let o = 0; o < outputs; o++) sum += dLogits[b * outputs + o] * output[(s * h + r) * outputs + o];
          dHidden[r] = sum * this.poolScale;
        }
        for (let t = 0; t < p; t++) {
          const c = s * p + t;
          const gate = gates[b * kp + c];
          let dGate = 0;
          for (let r = 0; r < h; r++) {
            const value = z[(b * kp + c) * h + r];
            dz[c * h + r] = value > 0 ? dHidden[r] * gate : 0;
            if (value > 0) dGate += dHidden[r] * value;
          }
          for (let j = 0; j < n; j++) {
            const at = (b * n + j) * kp + c;
            const row = (b * n + j) * width + column;
            let dWeight = 0;
            for (let r = 0; r < h; r++) {
              dWeight += products[row + r] * dz[c * h + r];
              dp[row + r] += state.dispatch[at] * dz[c * h + r];
            }
            dDispatch[at] = dWeight;
            dCombine[at] = dGate;
          }
        }
      }
    }
    this.scaleGrad = soft.backward(state, dDispatch, dCombine, this.batchNorms('train', samples), this.scale, rows, dp, width);
    this.sets.train.productT(rows, width, this.rows, this.dProducts, this.grads);
    soft.kernelGradient({ values: arena.floats(this.mu), rows: d, stride: kpp }, { values: arena.floats(this.grads), rows: d, stride: width }, this.inverse, {
      values: arena.floats(this.muGrads),
      rows: d,
      stride: kpp,
    });
    return loss;
  }
}

/** Each patch row's sqrt(|x|^2 + epsilon), the Soft MoE normalisation's divisor: [count n]. */
function rowNorms(data: PatchDataset): Float64Array {
  const { count, patchCount: n, patchDim: d, patches } = data;
  const norms = new Float64Array(count * n);
  for (let r = 0; r < count * n; r++) {
    let sum = 0;
    for (let i = 0; i < d; i++) sum += patches[r * d + i] ** 2;
    norms[r] = Math.sqrt(sum + SOFT_MOE_EPSILON);
  }
  return norms;
}
