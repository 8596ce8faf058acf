import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { simdMatMul } from '../../ops/rows-product.js';
import { integer, OptionError, real } from '../../util/options.js';
import { auxiliaryLossesTf, routerMetrics, HostAuxiliaryLosses, type AuxiliarySettings } from '../auxiliary-losses.js';
import { capacity, imageGroups, type Group } from '../groups.js';
import { addSoftmaxGradient, Scratch, softmaxRows } from '../probabilities.js';
import type { Floats, HostDispatch, HostRouter, HostScores, RouteMode, Router, RouterInput, RouterShape, SparseDispatch } from '../router.js';
import { auxiliaryWeights, sparseRouter } from '../sparse-router.js';
import { gatherGates } from './gather-gates.js';

/**
 * Token choice, as V-MoE's NoisyTopExpertsPerItem router (Riquelme et al. 2021) and GShard: each
 * patch picks its top K experts by the router probabilities P = softmax over experts of the scores
 * (plus noise of std noiseStd / k in training); each expert has a buffer of C places per group of
 * images, C = ceil(K T factor / k) for the group's T patches (V-MoE's compute_capacity); choices
 * fill the buffers in order, all first choices before any second one; a choice that finds its
 * expert's buffer full is dropped. Patches go in order of position, or with batch priority routing
 * (BPR) in order of their largest probability, highest first. A place's gate is the probability P
 * of its (patch, expert), as V-MoE combines (not renormalised over the K). Ties go to the lower
 * expert index and the earlier patch.
 */
export const tokenChoiceSchema = z
  .object({
    name: z.literal('token-choice'),
    /** K: experts each patch picks. V-MoE's default: 1. */
    topK: integer(1).default(1),
    /** Capacity factor in training. V-MoE's paper configs (vmoe_paper/common.py): 1.05. */
    capacityFactor: real(0, Infinity, { exclusiveMin: true }).default(1.05),
    /** Capacity factor in evaluation; default the training one. */
    evalCapacityFactor: real(0, Infinity, { exclusiveMin: true }).optional(),
    /** Batch priority routing (V-MoE); its configs default to false. */
    batchPriority: z.boolean().default(false),
    /** Training noise on the scores, std noiseStd / k (V-MoE: 1.0, divided by the number of experts). 0: none. */
    noiseStd: real(0).default(1),
    /** Images per group: capacity and priority are per group. */
    groupSize: integer(1).default(1),
    /** V-MoE's importance and load loss weights (vmoe_paper/common.py: 0.005 each; the load loss needs noise). */
    importanceLoss: real(0).default(0.005),
    loadLoss: real(0).default(0.005),
    /** ST-MoE's router z-loss weight (ST-MoE used 0.001); V-MoE has none. */
    zLoss: real(0).default(0),
  })
  .strict();
export type TokenChoiceConfig = z.output<typeof tokenChoiceSchema>;

/**
 * Fills out.rows and out.gates from the router probabilities p [rows, k]: the routing algorithm,
 * shared by the kernel and the reference (which takes the gates from tf instead).
 */
export function selectTokenChoice(p: Floats, groups: readonly Group[], k: number, topK: number, batchPriority: boolean, out: HostDispatch): void {
  const { places, rows, gates } = out;
  rows.fill(-1, 0, k * places);
  gates.fill(0, 0, k * places);
  let dropped = 0;
  const filled = new Int32Array(k);
  for (const group of groups) {
    const { firstRow, tokens, firstPlace, capacity: size } = group;
    // Each patch's top K experts, highest first (ties to the lower expert).
    const choices = new Int32Array(tokens * topK);
    for (let i = 0; i < tokens; i++) {
      const at = (firstRow + i) * k;
      for (let c = 0; c < topK; c++) {
        let best = -1;
        for (let s = 0; s < k; s++) {
          let taken = false;
          for (let u = 0; u < c; u++) taken ||= choices[i * topK + u] === s;
          if (!taken && (best < 0 || p[at + s] > p[at + best])) best = s;
        }
        choices[i * topK + c] = best;
      }
    }
    const order = Array.from({ length: tokens }, (_, i) => i);
    // Stable: equal priorities keep their positions.
    if (batchPriority) order.sort((a, b) => p[(firstRow + b) * k + choices[b * topK]] - p[(firstRow + a) * k + choices[a * topK]]);
    filled.fill(0);
    for (let c = 0; c < topK; c++) {
      for (const i of order) {
        const s = choices[i * topK + c];
        if (filled[s] === size) {
          dropped++;
          continue;
        }
        const place = s * places + firstPlace + filled[s]++;
        rows[place] = firstRow + i;
        gates[place] = p[(firstRow + i) * k + s];
      }
    }
  }
  out.dropped = dropped;
}

class TokenChoiceHost implements HostRouter {
  private readonly probabilities = new Scratch();
  private readonly dProbabilities = new Scratch();
  constructor(
    private readonly config: TokenChoiceConfig,
    private readonly shape: RouterShape,
    private readonly auxiliary: HostAuxiliaryLosses,
  ) {}

  groups(batch: number, mode: RouteMode) {
    const factor = mode === 'eval' ? (this.config.evalCapacityFactor ?? this.config.capacityFactor) : this.config.capacityFactor;
    return imageGroups(batch, this.shape.patches, this.config.groupSize, (tokens) => capacity(tokens, this.config.topK, factor, this.shape.experts));
  }

  places(batch: number, mode: RouteMode): number {
    return this.groups(batch, mode).places;
  }

  private noiseFor(mode: RouteMode, noise?: Floats): Floats | undefined {
    return mode === 'train' && this.config.noiseStd > 0 ? noise : undefined;
  }

  forward(scores: HostScores, batch: number, mode: RouteMode, out: HostDispatch, noise?: Floats): void {
    const k = this.shape.experts;
    const p = this.probabilities.take(scores.rows * k);
    softmaxRows(scores, k, p, this.noiseFor(mode, noise), this.config.noiseStd / k);
    const { groups, places } = this.groups(batch, mode);
    out.places = places;
    selectTokenChoice(p, groups, k, this.config.topK, this.config.batchPriority, out);
    this.auxiliary.forward(scores, mode, out.auxiliary, noise);
  }

  backward(
    scores: HostScores,
    _batch: number,
    mode: RouteMode,
    out: HostDispatch,
    dGates: Floats,
    dAuxiliary: ArrayLike<number>,
    dScores: Floats,
    noise?: Floats,
  ): void {
    const k = this.shape.experts;
    const p = this.probabilities.take(scores.rows * k);
    softmaxRows(scores, k, p, this.noiseFor(mode, noise), this.config.noiseStd / k);
    const dp = this.dProbabilities.take(scores.rows * k).fill(0, 0, scores.rows * k);
    addPlaceGradients(out, k, dGates, dp);
    dScores.fill(0, 0, scores.rows * scores.stride);
    addSoftmaxGradient(p, dp, scores.rows, k, dScores, scores.stride);
    this.auxiliary.backward(scores, mode, dAuxiliary, dScores, noise);
  }
}

/** dP[r k + s] += dGate of each filled place (row r) of expert s: the gates are the probabilities there. */
export function addPlaceGradients(out: HostDispatch, k: number, dGates: Floats, dp: Float64Array): void {
  for (let s = 0; s < k; s++) {
    for (let i = 0; i < out.places; i++) {
      const row = out.rows[s * out.places + i];
      if (row >= 0) dp[row * k + s] += dGates[s * out.places + i];
    }
  }
}

export function createTokenChoice(config: TokenChoiceConfig, shape: RouterShape): Router {
  const k = shape.experts;
  if (config.topK > k) throw new OptionError(`router.topK must be an integer in 1..${k} (at most the number of experts); got ${config.topK}`);
  const weights = auxiliaryWeights({ importance: config.importanceLoss, load: config.loadLoss, zLoss: config.zLoss });
  const settings: AuxiliarySettings = { weights, topK: config.topK, noiseScale: config.noiseStd / k };
  const host = new TokenChoiceHost(config, shape, new HostAuxiliaryLosses(settings, k));
  const reference = (input: RouterInput): SparseDispatch =>
    tf.tidy(() => {
      const scores = simdMatMul(input.patches, input.kernel);
      const noisy = input.mode === 'train' && config.noiseStd > 0 && input.noise ? tf.add(scores, tf.mul(input.noise, config.noiseStd / k)) : scores;
      const probabilities = tf.softmax(noisy) as tf.Tensor2D;
      const { groups, places } = host.groups(input.batch, input.mode);
      const out: HostDispatch = { places, rows: new Int32Array(k * places), gates: new Float32Array(k * places), dropped: 0, auxiliary: new Float64Array(3) };
      selectTokenChoice(probabilities.dataSync() as Float32Array, groups, k, config.topK, config.batchPriority, out);
      return {
        kind: 'sparse' as const,
        ...gatherGates(probabilities, out.rows, k, places),
        metrics: routerMetrics(auxiliaryLossesTf(scores, settings, input.mode, input.noise), out.dropped),
      };
    });
  return sparseRouter({ config, shape, host, reference, auxiliaryWeights: weights, drawsNoise: config.noiseStd > 0, gatesDifferentiable: true });
}
