import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { GATE_MODES, POOLINGS } from '../routing/gate.js';
import type { Routing } from '../routing/route.js';
import { createRouter, DEFAULT_ROUTER, DEFAULT_ROUTER_CONFIG, routerSettingSchema } from '../routing/registry.js';
import { tidy } from '../routing/tidy.js';
import type { Dispatch, RouteMode, Router } from '../routing/router.js';
import { expertInputs, placeGates, routingView, sumPerImage } from '../routing/dispatch.js';
import { integer, oneOf, parseOptions, real } from '../util/options.js';
import { initStd, INIT_SCHEMES, REGIMES } from './init.js';
import { createRng, tfSeed, type Rng } from '../util/random.js';
import { makeOutputWeights, OUTPUT_WEIGHTS } from './output-weights.js';
import { checkPatches, type RoutedPatchModel } from './patch-model.js';

/**
 * The paper's two-layer pMoE (eq. 1):
 * f_M(x) = sum_s sum_r (a_{r,s} / l) sum_{j in J_s(x)} ReLU(<w_{r,s}, x^(j)>) G_{j,s}(x).
 * Symbols: n = patchCount, d = patchDim, k = experts, l = patchesPerExpert, m/k = neuronsPerExpert.
 * Defaults are the paper's joint-training MNIST model (k = 8, 5 neurons each, l = 6).
 * `router` picks who chooses J_s(x) and G (routing/registry.ts; the paper's expert choice per image
 * when unset): each expert's sum runs over the places of its buffer, scaled by 1/l throughout.
 */
export const twoLayerPmoeSchema = z
  .object({
    patchCount: integer(1),
    patchDim: integer(1),
    experts: integer(1).default(8),
    neuronsPerExpert: integer(1).default(5),
    patchesPerExpert: integer(1).default(6),
    /** The paper's router's gate mode (other routers gate by their own rule). */
    gate: oneOf(GATE_MODES).default('softmax-selected'),
    /** A router name or { name, ...options } (routing/registry.ts); unset: the paper's expert choice per image. */
    router: routerSettingSchema.optional(),
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
    if (config.regime === 'separate' && config.router !== undefined && config.router.name !== DEFAULT_ROUTER) {
      ctx.addIssue({
        code: 'custom',
        path: ['router'],
        message: `separate training's router loss (eq. 6) trains the paper's router: use '${DEFAULT_ROUTER}' or leave router unset`,
      });
    }
  });

export type TwoLayerPmoeOptions = z.input<typeof twoLayerPmoeSchema>;
export type TwoLayerPmoeConfig = z.output<typeof twoLayerPmoeSchema>;

export class TwoLayerPmoe implements RoutedPatchModel {
  readonly config: TwoLayerPmoeConfig;
  /** Who routes: the configured router for this model's n, k and l. */
  readonly router: Router;
  /** The router kernel: w_s as columns, [d, k] (Soft MoE: its slot parameters, [d, k p]). */
  readonly routers: tf.Variable<tf.Rank.R2>;
  /** The router's other trainable weights (Soft MoE's scale), by name. */
  readonly routerWeights: Readonly<Record<string, tf.Variable>>;
  /** w_{r,s}: [k, d, m/k], expert by expert. */
  readonly experts: tf.Variable<tf.Rank.R3>;
  /** a_{r,s}: [k * m/k, logits], fixed, rows grouped by expert. */
  readonly output: tf.Tensor2D;
  /** When true, SGD leaves the routers alone (separate training's expert phase). */
  routersFrozen = false;
  /** Draws the router's training noise, one draw per training forward pass (the fused step draws from it too). */
  private readonly noiseStream: Rng;

  constructor(options: TwoLayerPmoeOptions) {
    const config = parseOptions(twoLayerPmoeSchema, options, 'pmoe');
    this.config = config;
    const { patchDim, experts, neuronsPerExpert, seed } = config;
    this.router = createRouter(
      config.router ?? DEFAULT_ROUTER_CONFIG,
      { patches: config.patchCount, experts, patchesPerExpert: config.patchesPerExpert },
      config.gate,
    );
    const defaults = initStd(config.init, experts * neuronsPerExpert, config.regime);
    const hiddenStd = config.hiddenInitStd ?? defaults.hidden;
    const routerStd = config.routerInitStd ?? defaults.router;
    this.routers = tf.variable(tf.randomNormal([patchDim, this.router.scoreColumns], 0, routerStd, 'float32', tfSeed(seed)));
    this.experts = tf.variable(tf.randomNormal([experts, patchDim, neuronsPerExpert], 0, hiddenStd, 'float32', tfSeed(seed + 1)));
    this.output = makeOutputWeights(config.outputWeights, experts, neuronsPerExpert, config.classes, seed + 2);
    this.routerWeights = Object.fromEntries(
      Object.entries(this.router.extraWeights).map(([name, spec]) => [name, tf.variable(tf.fill([...spec.shape], spec.initialValue))]),
    );
    this.noiseStream = createRng(`${seed}:router-noise`);
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

  /** Logits [batch, logits]; `train` routes as in training (noise, training capacity). */
  forward(patches: tf.Tensor3D, mode: RouteMode = 'eval'): tf.Tensor2D {
    return tf.tidy(() => this.run(patches, mode).logits);
  }

  /**
   * The training forward pass: logits, the router's weighted auxiliary loss (undefined when it has
   * none) and its metrics [4] (routing/router.ts ROUTER_METRICS).
   */
  trainingForward(patches: tf.Tensor3D): { logits: tf.Tensor2D; auxiliaryLoss?: tf.Scalar; metrics: tf.Tensor1D } {
    return tidy(() => {
      const { logits, dispatch } = this.run(patches, 'train');
      const { importance, load, zLoss } = this.router.auxiliaryWeights;
      if (importance === 0 && load === 0 && zLoss === 0) return { logits, metrics: dispatch.metrics };
      const weighted = tf.sum(tf.mul(tf.slice(dispatch.metrics, [0], [3]), tf.tensor1d([importance, load, zLoss]))) as tf.Scalar;
      return { logits, auxiliaryLoss: weighted, metrics: dispatch.metrics };
    });
  }

  /** The routing image by image (routing/dispatch.ts routingView), as in evaluation. */
  routing(patches: tf.Tensor3D): Routing {
    return tf.tidy(() => routingView(this.dispatch(patches, 'eval'), patches.shape[0], this.config.patchCount));
  }

  /** The router's dispatch of a batch [batch, n, d]. In training mode a router that draws noise takes its next draw. */
  dispatch(patches: tf.Tensor3D, mode: RouteMode = 'eval'): Dispatch {
    this.checkInput(patches);
    const [batch, n, d] = patches.shape;
    return tidy(() => {
      const noise = mode === 'train' ? this.drawNoise(batch * n) : undefined;
      return this.router.route({
        patches: tf.reshape(patches, [batch * n, d]) as tf.Tensor2D,
        kernel: this.routers,
        weights: this.routerWeights,
        batch,
        mode,
        ...(noise ? { noise: tf.tensor2d(noise, [batch * n, this.config.experts]) } : {}),
      });
    });
  }

  /** The next training noise for `rows` patch rows, [rows, k] standard normal; undefined when the router draws none. */
  drawNoise(rows: number): Float32Array | undefined {
    if (!this.router.drawsNoise) return undefined;
    return Float32Array.from({ length: rows * this.config.experts }, () => this.noiseStream.normal());
  }

  forwardWithRouting(patches: tf.Tensor3D): { logits: tf.Tensor2D; routing: Routing } {
    return tf.tidy(() => {
      const { logits, dispatch } = this.run(patches, 'eval');
      return { logits, routing: routingView(dispatch, patches.shape[0], this.config.patchCount) };
    });
  }

  private run(patches: tf.Tensor3D, mode: RouteMode): { logits: tf.Tensor2D; dispatch: Dispatch } {
    const { patchesPerExpert: l, experts: k, neuronsPerExpert, pooling } = this.config;
    const [batch, n, d] = patches.shape;
    return tidy(() => {
      const dispatch = this.dispatch(patches, mode);
      // [k, places, d] x [k, d, m/k]: each expert multiplies only its buffer's rows.
      let activations = tf.relu(tf.matMul(expertInputs(dispatch, tf.reshape(patches, [batch * n, d]) as tf.Tensor2D, batch), this.experts)) as tf.Tensor3D;
      if (!(dispatch.kind === 'sparse' && dispatch.unitGates)) activations = tf.mul(activations, tf.expandDims(placeGates(dispatch), 2));
      const pooled = sumPerImage(activations, dispatch, batch, n);
      const hidden = tf.reshape(tf.transpose(pooled, [1, 0, 2]), [batch, k * neuronsPerExpert]);
      const scale = 1 / (pooling === 'selected' ? l : this.config.patchCount);
      const logits = tf.mul(tf.matMul(hidden, this.output), scale) as tf.Tensor2D;
      return { logits, dispatch };
    });
  }

  trainableVariables(): tf.Variable[] {
    return this.routersFrozen ? [this.experts] : [this.routers, ...Object.values(this.routerWeights), this.experts];
  }

  namedWeights(): Record<string, tf.Tensor> {
    return { routers: this.routers, ...prefixed(this.routerWeights), experts: this.experts, output: this.output };
  }

  dispose(): void {
    this.routers.dispose();
    for (const weight of Object.values(this.routerWeights)) weight.dispose();
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

/** The router's extra weights as named weights: `router/<name>`. */
function prefixed(weights: Readonly<Record<string, tf.Variable>>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(weights).map(([name, weight]) => [`router/${name}`, weight]));
}
