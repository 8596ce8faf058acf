import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { simdMatMul } from '../../ops/rows-product.js';
import { integer, real } from '../../util/options.js';
import { auxiliaryLossesTf, routerMetrics, HostAuxiliaryLosses, type AuxiliarySettings } from '../auxiliary-losses.js';
import { capacity, imageGroups, type Group } from '../groups.js';
import { addSoftmaxGradient, Scratch, softmaxRows } from '../probabilities.js';
import type { Floats, HostDispatch, HostRouter, HostScores, RouteMode, Router, RouterInput, RouterShape, SparseDispatch } from '../router.js';
import { auxiliaryWeights, sparseRouter } from '../sparse-router.js';
import { gatherGates } from './gather-gates.js';
import { addPlaceGradients } from './token-choice.js';

/**
 * Expert choice over a group of images (Zhou et al. 2022, "Mixture-of-Experts with Expert Choice
 * Routing"; V-MoE's NoisyTopItemsPerExpert): P = softmax over experts of each patch's scores; each
 * expert takes the C patches of the whole group with the largest P for it, C = ceil(T factor / k)
 * for the group's T patches, so every expert is full and an image may give an expert any number
 * of its patches, or none. Gates are P at the chosen (patch, expert). Ties go to the earlier patch.
 * With the matched compute of the paper's router (l per expert per image), factor = k l / n.
 */
export const batchExpertChoiceSchema = z
  .object({
    name: z.literal('batch-expert-choice'),
    /** Average experts per patch, c: C = T c / k. Zhou et al.'s main setting EC-CF2: 2. */
    capacityFactor: real(0, Infinity, { exclusiveMin: true }).default(2),
    /** Images per group (Zhou et al.: the batch); the paper's mini-batch is 20 images. */
    groupSize: integer(1).default(20),
    /** Training noise on the scores, std noiseStd / k (V-MoE's TopItemsPerExpert has it; Zhou et al. none). */
    noiseStd: real(0).default(0),
    /** Auxiliary losses (Zhou et al.: none; the load is balanced by construction). */
    importanceLoss: real(0).default(0),
    zLoss: real(0).default(0),
  })
  .strict();
export type BatchExpertChoiceConfig = z.output<typeof batchExpertChoiceSchema>;

/** Scores of the C chosen rows, kept beside them while insertion runs (grown on demand). */
let chosenScores = new Float64Array(64);

/** Fills out.rows and out.gates from the probabilities p [rows, k]: each expert's top C rows of each group. */
export function selectBatchExpertChoice(p: Floats, groups: readonly Group[], k: number, out: HostDispatch): void {
  const { places, rows, gates } = out;
  rows.fill(-1, 0, k * places);
  gates.fill(0, 0, k * places);
  for (const { firstRow, tokens, firstPlace, capacity: size } of groups) {
    if (chosenScores.length < size) chosenScores = new Float64Array(size);
    const top = chosenScores;
    for (let s = 0; s < k; s++) {
      const at = s * places + firstPlace;
      let count = 0;
      for (let i = 0; i < tokens; i++) {
        const value = p[(firstRow + i) * k + s];
        // Later rows go after equal values: ties stay with the earlier patch.
        if (count === size && !(value > top[size - 1])) continue;
        let place = count < size ? count++ : size - 1;
        while (place > 0 && value > top[place - 1]) {
          top[place] = top[place - 1];
          rows[at + place] = rows[at + place - 1];
          place--;
        }
        top[place] = value;
        rows[at + place] = firstRow + i;
      }
      for (let t = 0; t < count; t++) gates[at + t] = p[rows[at + t] * k + s];
    }
  }
  out.dropped = 0;
}

class BatchExpertChoiceHost implements HostRouter {
  private readonly probabilities = new Scratch();
  private readonly dProbabilities = new Scratch();
  constructor(
    private readonly config: BatchExpertChoiceConfig,
    private readonly shape: RouterShape,
    private readonly auxiliary: HostAuxiliaryLosses,
  ) {}

  groups(batch: number) {
    return imageGroups(batch, this.shape.patches, this.config.groupSize, (tokens) =>
      Math.min(tokens, capacity(tokens, 1, this.config.capacityFactor, this.shape.experts)),
    );
  }

  places(batch: number): number {
    return this.groups(batch).places;
  }

  private probabilitiesOf(scores: HostScores, mode: RouteMode, noise?: Floats): Float64Array {
    const k = this.shape.experts;
    const p = this.probabilities.take(scores.rows * k);
    softmaxRows(scores, k, p, mode === 'train' && this.config.noiseStd > 0 ? noise : undefined, this.config.noiseStd / k);
    return p;
  }

  forward(scores: HostScores, batch: number, mode: RouteMode, out: HostDispatch, noise?: Floats): void {
    const p = this.probabilitiesOf(scores, mode, noise);
    const { groups, places } = this.groups(batch);
    out.places = places;
    selectBatchExpertChoice(p, groups, this.shape.experts, out);
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
    const p = this.probabilitiesOf(scores, mode, noise);
    const dp = this.dProbabilities.take(scores.rows * k).fill(0, 0, scores.rows * k);
    addPlaceGradients(out, k, dGates, dp);
    dScores.fill(0, 0, scores.rows * scores.stride);
    addSoftmaxGradient(p, dp, scores.rows, k, dScores, scores.stride);
    this.auxiliary.backward(scores, mode, dAuxiliary, dScores, noise);
  }
}

export function createBatchExpertChoice(config: BatchExpertChoiceConfig, shape: RouterShape): Router {
  const k = shape.experts;
  const weights = auxiliaryWeights({ importance: config.importanceLoss, zLoss: config.zLoss });
  const settings: AuxiliarySettings = { weights, topK: 1, noiseScale: config.noiseStd / k };
  const host = new BatchExpertChoiceHost(config, shape, new HostAuxiliaryLosses(settings, k));
  const reference = (input: RouterInput): SparseDispatch =>
    tf.tidy(() => {
      const scores = simdMatMul(input.patches, input.kernel);
      const noisy = input.mode === 'train' && config.noiseStd > 0 && input.noise ? tf.add(scores, tf.mul(input.noise, config.noiseStd / k)) : scores;
      const probabilities = tf.softmax(noisy) as tf.Tensor2D;
      const { groups, places } = host.groups(input.batch);
      const out: HostDispatch = { places, rows: new Int32Array(k * places), gates: new Float32Array(k * places), dropped: 0, auxiliary: new Float64Array(3) };
      selectBatchExpertChoice(probabilities.dataSync() as Float32Array, groups, k, out);
      return {
        kind: 'sparse' as const,
        ...gatherGates(probabilities, out.rows, k, places),
        metrics: routerMetrics(auxiliaryLossesTf(scores, settings, input.mode, input.noise), out.dropped),
      };
    });
  return sparseRouter({
    config,
    shape,
    host,
    reference,
    auxiliaryWeights: weights,
    drawsNoise: config.noiseStd > 0,
    gatesDifferentiable: true,
    layout: { full: true },
  });
}
