import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { gateGradient, topL, writeGates, type ScoreColumn, type Selection } from '../expert-choice-core.js';
import type { GateMode } from '../gate.js';
import { simdMatMul } from '../../ops/rows-product.js';
import { real } from '../../util/options.js';
import { auxiliaryLossesTf, routerMetrics, HostAuxiliaryLosses, type AuxiliarySettings } from '../auxiliary-losses.js';
import { route } from '../route.js';
import type { Floats, HostDispatch, HostRouter, HostScores, Router, RouterInput, RouterShape, SparseDispatch } from '../router.js';
import { auxiliaryWeights, sparseRouter } from '../sparse-router.js';

/**
 * The paper's router (the default): expert choice per image. Each expert takes the l highest-
 * scoring patches of each image (ties to the lower patch index), gated by the model's gate mode
 * (softmax over the l selected scores, softmax over all n read at the selected, or hard 1s; see
 * routing/gate.ts). Every expert gets exactly l patches of every image, so no patch is dropped for want
 * of room, though a patch may go to no expert. Place b l + t of expert s holds its t-th patch of image b.
 * Auxiliary losses are optional and off by default (the paper has none).
 */
export const expertChoiceSchema = z
  .object({
    name: z.literal('expert-choice'),
    /** Weight of V-MoE's importance loss (auxiliary-losses.ts); the paper: none. */
    importanceLoss: real(0).default(0),
    /** Weight of ST-MoE's router z-loss; the paper: none. */
    zLoss: real(0).default(0),
  })
  .strict();
export type ExpertChoiceConfig = z.output<typeof expertChoiceSchema>;

/** The paper's kernel on plain arrays: src/routing/expert-choice-core.ts column by column. */
class ExpertChoiceHost implements HostRouter {
  private chosen = new Int32Array(0);
  constructor(
    private readonly shape: RouterShape,
    private readonly gate: GateMode,
    private readonly auxiliary: HostAuxiliaryLosses,
  ) {}

  places(batch: number): number {
    return batch * this.shape.patchesPerExpert;
  }

  forward(scores: HostScores, batch: number, _mode: 'train' | 'eval', out: HostDispatch): void {
    const { patches: n, experts: k, patchesPerExpert: l } = this.shape;
    const places = (out.places = batch * l);
    const column: ScoreColumn = { values: scores.values, base: 0, step: scores.stride, n };
    const selection: Selection = { chosen: out.rows, gates: out.gates, at: 0, l };
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * scores.stride + s;
        selection.at = s * places + b * l;
        topL(column, selection);
        writeGates(this.gate, column, selection);
        // Patch j of image b is row b n + j.
        for (let t = 0; t < l; t++) out.rows[selection.at + t] += b * n;
      }
    }
    out.dropped = 0;
    if (this.auxiliary.active) this.auxiliary.forward(scores, 'eval', out.auxiliary);
    else out.auxiliary.fill(0);
  }

  backward(
    scores: HostScores,
    batch: number,
    _mode: 'train' | 'eval',
    out: HostDispatch,
    dGates: Floats,
    dAuxiliary: ArrayLike<number>,
    dScores: Floats,
  ): void {
    const { patches: n, experts: k, patchesPerExpert: l } = this.shape;
    const { places } = out;
    if (this.chosen.length < k * places) this.chosen = new Int32Array(k * places);
    const chosen = this.chosen;
    for (let i = 0; i < k * places; i++) chosen[i] = out.rows[i] - Math.floor((i % places) / l) * n;
    dScores.fill(0, 0, scores.rows * scores.stride);
    const column: ScoreColumn = { values: scores.values, base: 0, step: scores.stride, n };
    const selection: Selection = { chosen, gates: out.gates, at: 0, l };
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < k; s++) {
        column.base = b * n * scores.stride + s;
        selection.at = s * places + b * l;
        gateGradient(this.gate, column, selection, dGates, dScores);
      }
    }
    if (this.auxiliary.active) this.auxiliary.backward(scores, 'eval', dAuxiliary, dScores);
  }
}

export function createExpertChoice(config: ExpertChoiceConfig, shape: RouterShape, gate: GateMode): Router {
  const weights = auxiliaryWeights({ importance: config.importanceLoss, zLoss: config.zLoss });
  const settings: AuxiliarySettings = { weights, topK: 1, noiseScale: 0 };
  const { patches: n, experts: k, patchesPerExpert: l } = shape;
  const layout = { slotsPerImage: l, full: true, ...(gate === 'hard' ? { unitGates: true } : {}) };
  const reference = (input: RouterInput): SparseDispatch =>
    tf.tidy(() => {
      const scores = simdMatMul(input.patches, input.kernel);
      // route() selects along the last axis: on [k, batch, n] its indices are the buffers' layout
      // already (no int32 transpose, which webgpu reads back).
      const routing = route(tf.transpose(tf.reshape(scores, [input.batch, n, k]), [2, 0, 1]) as tf.Tensor3D, l, gate);
      const offsets = tf.reshape(tf.range(0, input.batch * n, n, 'int32'), [1, input.batch, 1]);
      return {
        kind: 'sparse' as const,
        rows: tf.reshape(tf.add(routing.indices, offsets), [k, input.batch * l]) as tf.Tensor2D,
        gates: tf.reshape(routing.gates, [k, input.batch * l]) as tf.Tensor2D,
        ...layout,
        metrics: routerMetrics(auxiliaryLossesTf(scores, settings, 'eval'), 0),
      };
    });
  return sparseRouter({
    config,
    shape,
    host: new ExpertChoiceHost(shape, gate, new HostAuxiliaryLosses(settings, k)),
    reference,
    auxiliaryWeights: weights,
    drawsNoise: false,
    gatesDifferentiable: gate !== 'hard',
    layout,
    keyExtra: gate,
  });
}
