import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { GATE_MODES, POOLINGS } from '../ops/gate.js';
import { gatesForExperts, gatherForExperts, patchScores, route, type Routing } from '../routing/route.js';
import { integer, oneOf, parseOptions, real } from '../util/options.js';
import { initStd, INIT_SCHEMES, REGIMES } from './init.js';
import { tfSeed } from '../util/random.js';
import { makeOutputWeights, OUTPUT_WEIGHTS } from './output-weights.js';
import { checkPatches, type RoutedPatchModel } from './patch-model.js';

/**
 * The paper's two-layer pMoE (eq. 1):
 * f_M(x) = sum_s sum_r (a_{r,s} / l) sum_{j in J_s(x)} ReLU(<w_{r,s}, x^(j)>) G_{j,s}(x).
 * Symbols: n = patchCount, d = patchDim, k = experts, l = patchesPerExpert, m/k = neuronsPerExpert.
 * Defaults are the paper's joint-training MNIST model (k = 8, 5 neurons each, l = 6).
 */
export const twoLayerPmoeSchema = z
  .object({
    patchCount: integer(1),
    patchDim: integer(1),
    experts: integer(1).default(8),
    neuronsPerExpert: integer(1).default(5),
    patchesPerExpert: integer(1).default(6),
    gate: oneOf(GATE_MODES).default('softmax-selected'),
    pooling: oneOf(POOLINGS).default('selected'),
    classes: integer(2).default(2),
    outputWeights: oneOf(OUTPUT_WEIGHTS).default('gaussian'),
    init: oneOf(INIT_SCHEMES).default('paper'),
    /** Which regime the `code` init scheme follows. */
    regime: oneOf(REGIMES).default('joint'),
    hiddenInitStd: real(0).optional(),
    routerInitStd: real(0).optional(),
    seed: integer(0).default(0),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.patchesPerExpert > config.patchCount) {
      ctx.addIssue({
        code: 'custom',
        path: ['patchesPerExpert'],
        message: `must be an integer in 1..${config.patchCount} (l <= n, the number of patches)`,
      });
    }
  });

export type TwoLayerPmoeOptions = z.input<typeof twoLayerPmoeSchema>;
export type TwoLayerPmoeConfig = z.output<typeof twoLayerPmoeSchema>;

export class TwoLayerPmoe implements RoutedPatchModel {
  readonly config: TwoLayerPmoeConfig;
  /** w_s as columns: [d, k]. */
  readonly routers: tf.Variable<tf.Rank.R2>;
  /** w_{r,s}: [k, d, m/k], expert by expert. */
  readonly experts: tf.Variable<tf.Rank.R3>;
  /** a_{r,s}: [k * m/k, logits], fixed, rows grouped by expert. */
  readonly output: tf.Tensor2D;
  /** When true, SGD leaves the routers alone (separate training's expert phase). */
  routersFrozen = false;

  constructor(options: TwoLayerPmoeOptions) {
    const config = parseOptions(twoLayerPmoeSchema, options, 'pmoe');
    this.config = config;
    const { patchDim, experts, neuronsPerExpert, seed } = config;
    const defaults = initStd(config.init, experts * neuronsPerExpert, config.regime);
    const hiddenStd = config.hiddenInitStd ?? defaults.hidden;
    const routerStd = config.routerInitStd ?? defaults.router;
    this.routers = tf.variable(tf.randomNormal([patchDim, experts], 0, routerStd, 'float32', tfSeed(seed)));
    this.experts = tf.variable(tf.randomNormal([experts, patchDim, neuronsPerExpert], 0, hiddenStd, 'float32', tfSeed(seed + 1)));
    this.output = makeOutputWeights(config.outputWeights, experts, neuronsPerExpert, config.classes, seed + 2);
  }

  get classes(): number {
    return this.config.classes;
  }

  /**
   * The logits of `patches` [batch, n, d]: [batch, 1] for two classes (the paper's f), [batch,
   * classes] otherwise. The counterpart of a Layers model's predict, so that whatever loadModel
   * returns answers predict.
   */
  predict(patches: tf.Tensor): tf.Tensor2D {
    return this.forward(checkPatches(patches, this.config.patchCount, this.config.patchDim, 'TwoLayerPmoe.predict'));
  }

  forward(patches: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      const { logits } = this.forwardWithRouting(patches);
      return logits;
    });
  }

  routing(patches: tf.Tensor3D): Routing {
    this.checkInput(patches);
    return tf.tidy(() => route(patchScores(patches, this.routers), this.config.patchesPerExpert, this.config.gate));
  }

  forwardWithRouting(patches: tf.Tensor3D): { logits: tf.Tensor2D; routing: Routing } {
    const { patchesPerExpert: l, experts: k, neuronsPerExpert, gate, pooling } = this.config;
    const batch = patches.shape[0];
    return tf.tidy(() => {
      const routing = this.routing(patches);
      // [k, batch * l, d] x [k, d, m/k]: each expert multiplies only its batch * l gathered rows.
      let activations: tf.Tensor = tf.relu(tf.matMul(gatherForExperts(patches, routing.indices), this.experts));
      if (gate !== 'hard') activations = tf.mul(activations, gatesForExperts(routing.gates));
      const pooled = tf.sum(tf.reshape(activations, [k, batch, l, neuronsPerExpert]), 2);
      const hidden = tf.reshape(tf.transpose(pooled, [1, 0, 2]), [batch, k * neuronsPerExpert]);
      const scale = 1 / (pooling === 'selected' ? l : this.config.patchCount);
      const logits = tf.mul(tf.matMul(hidden, this.output), scale) as tf.Tensor2D;
      return { logits, routing };
    });
  }

  trainableVariables(): tf.Variable[] {
    return this.routersFrozen ? [this.experts] : [this.routers, this.experts];
  }

  namedWeights(): Record<string, tf.Tensor> {
    return { routers: this.routers, experts: this.experts, output: this.output };
  }

  dispose(): void {
    this.routers.dispose();
    this.experts.dispose();
    this.output.dispose();
  }

  private checkInput(patches: tf.Tensor3D): void {
    const [, n, d] = patches.shape;
    if (patches.rank !== 3 || n !== this.config.patchCount || d !== this.config.patchDim) {
      throw new RangeError(`pmoe input must be [batch, ${this.config.patchCount}, ${this.config.patchDim}] patches; got [${patches.shape.join(', ')}]`);
    }
  }
}
